"""A researcher's cohort before training: what it holds, what fails to read, whether it can train.

:func:`check_cohort` reads the cohort table and tries every recording with
the same readers the dashboard uses, so a researcher sees, before hours of
training, how many patients there are, the class balance, who has both
modalities and which files fail and why. :func:`unpack_cohort_zip` turns an
uploaded zip into a cohort folder on the server, safely. :func:`use_cohort`
is a researcher's choice of a cohort folder, written to the audit trail
(``cohort_check``) before anything in it is read, and refused unless it lies
under one of :func:`cohort_roots` (symbolic links resolved): the server reads
cohorts there, not any folder a researcher types. :func:`check_cohort` also
refuses every recording that is a link to a file outside the cohort folder;
the readers confine the files a header names (BrainVision, EEGLAB ``.fdt``)
to the header's folder and refuse FIF next-file references.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rehab_core.security import record_event

if TYPE_CHECKING:
    from rehab_core.storage import Store

__all__ = [
    "CohortCheck",
    "check_cohort",
    "use_cohort",
    "cohort_roots",
    "COHORTS_DIR_ENV",
    "find_cohorts",
    "unpack_cohort_zip",
    "MIN_PATIENTS_PER_CLASS",
    "ZIP_LIMITS",
]

COHORTS_DIR_ENV = "REHAB_COHORTS_DIR"
"""Environment variable naming the server's folder of cohorts (besides ``DATA_DIR/cohorts``)."""

MIN_PATIENTS_PER_CLASS = 6
"""Fewest patients of each outcome with both modalities readable: below it, k-fold
training with early stopping has too few patients per fold to mean anything."""

ZIP_LIMITS = {"max_total_bytes": 20 * 10**9, "max_files": 20_000, "max_ratio": 200.0}
"""Limits on an uploaded cohort zip: unpacked size, number of files, compression ratio."""


@dataclass(frozen=True)
class CohortCheck:
    """What a cohort folder holds and whether it can train.

    ``failures`` lists ``{"participant_id", "kind", "file", "error"}`` for
    every recording the readers refuse; ``problems`` are the sentences that
    stop training (empty when it can train).
    """

    root: Path
    summary: dict[str, Any]
    failures: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def can_train(self) -> bool:
        return not self.problems


def find_cohorts(*folders: str | Path | None) -> list[Path]:
    """Cohort folders (with a ``participants.tsv``) one level below each of ``folders``.

    A child that is not a cohort itself may hold one a level deeper (an
    unpacked zip's top folder). Missing folders and ``None`` are skipped.
    """
    found = []
    for base in folders:
        if not base or not Path(base).is_dir():
            continue
        for child in sorted(Path(base).iterdir()):
            if not child.is_dir():
                continue
            for root in (child, *(c for c in sorted(child.iterdir()) if c.is_dir())):
                if (root / "participants.tsv").is_file():
                    found.append(root)
                    break
    return found


def _try_read(kind: str, path: str) -> tuple[str | None, float]:
    """(None, size) if the reader accepts the file, else (its one-sentence refusal, 0).

    The size is the recording's seconds (EEG-EMG) or axial slices (fMRI):
    what the time estimate of a training run scales with.
    """
    from rehab_core.io import InputError, read_fmri, read_signals

    try:
        if kind == "signals":
            raw = read_signals(path)
            return None, float(raw.n_times / raw.info["sfreq"])
        return None, float(read_fmri(path).shape[2])
    except InputError as err:
        return str(err), 0.0
    except Exception as err:  # a reader bug must not hide the rest of the cohort
        return f"{Path(path).name} could not be read ({type(err).__name__}: {err}).", 0.0


def _outside(path: str) -> tuple[str, float]:
    return (
        f"{Path(path).name} is a link to a file outside the cohort folder; copy the file "
        "into the cohort instead.",
        0.0,
    )


def check_cohort(
    root: str | os.PathLike[str],
    *,
    n_jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> CohortCheck:
    """Read a cohort folder and every recording in it; say whether it can train.

    Parameters
    ----------
    root : path
        A cohort folder (:mod:`rehab_core.io.cohort` layout).
    n_jobs : int
        Processes reading recordings.
    progress : callable, optional
        ``progress(done, total)`` after each recording.

    Returns
    -------
    CohortCheck
        A table-level refusal (no ``participants.tsv``, no labels...) comes
        back as the only problem, with whatever summary could be read.
    """
    from rehab_core.io.cohort import CohortError, read_cohort

    root = Path(root)
    try:
        cohort = read_cohort(root)
    except CohortError as err:
        try:
            partial = read_cohort(root, require_labels=False).summary()
        except CohortError:
            partial = {"root": str(root), "n_patients": 0}
        return CohortCheck(root=root, summary=partial, problems=[str(err)])

    todo = [
        (p.participant_id, kind, str(path))
        for p in cohort.patients
        for kind, path in (("signals", p.signals_path), ("fmri", p.fmri_path))
        if path is not None
    ]
    inside = root.resolve()
    outside = {
        path
        for _, _, path in todo
        if not Path(path).resolve().is_relative_to(inside)  # a link (file or folder) out of it
    }
    results: list[tuple[str | None, float]] = []
    if n_jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            futures = [
                None if path in outside else pool.submit(_try_read, kind, path)
                for _, kind, path in todo
            ]
            for i, ((_, _, path), fut) in enumerate(zip(todo, futures, strict=True), 1):
                results.append(_outside(path) if fut is None else fut.result())
                if progress is not None:
                    progress(i, len(todo))
    else:
        for i, (_, kind, path) in enumerate(todo, 1):
            results.append(_outside(path) if path in outside else _try_read(kind, path))
            if progress is not None:
                progress(i, len(todo))

    failures = [
        {"participant_id": pid, "kind": kind, "file": Path(path).name, "error": err}
        for (pid, kind, path), (err, _) in zip(todo, results, strict=True)
        if err is not None
    ]
    sizes = {(pid, kind): size for (pid, kind, _), (_, size) in zip(todo, results, strict=True)}
    broken = {(f["participant_id"], f["kind"]) for f in failures}
    summary = cohort.summary()

    def readable(p, kind: str, path) -> bool:
        return path is not None and (p.participant_id, kind) not in broken

    both = [
        p
        for p in cohort.patients
        if readable(p, "signals", p.signals_path) and readable(p, "fmri", p.fmri_path)
    ]
    summary.update(
        n_readable_signals=sum(readable(p, "signals", p.signals_path) for p in cohort.patients),
        n_readable_fmri=sum(readable(p, "fmri", p.fmri_path) for p in cohort.patients),
        n_readable_both=len(both),
        n_good_both=sum(p.label == 1 for p in both),
        n_poor_both=sum(p.label == 0 for p in both),
        n_failed_files=len(failures),
        # what a training run's duration scales with (before artefact rejection and screening)
        signal_seconds=sum(v for (_, kind), v in sizes.items() if kind == "signals"),
        fmri_slices=int(sum(v for (_, kind), v in sizes.items() if kind == "fmri")),
    )
    problems = []
    rarer = min(summary["n_good_both"], summary["n_poor_both"])
    if rarer < MIN_PATIENTS_PER_CLASS:
        problems.append(
            f"Only {summary['n_good_both']} good and {summary['n_poor_both']} poor outcomes "
            f"have both a readable EEG-EMG and fMRI; training needs at least "
            f"{MIN_PATIENTS_PER_CLASS} of each."
        )
    return CohortCheck(root=root, summary=summary, failures=failures, problems=problems)


def use_cohort(
    store: Store, actor: str, folder: str | os.PathLike[str], *, via: str = "folder"
) -> Path:
    """The cohort folder ``actor`` picked, resolved, after recording ``cohort_check``.

    Parameters
    ----------
    via : str
        How it was picked: ``"folder"`` (a path on the server) or ``"zip"`` (unpacked upload).

    Returns
    -------
    Path
        The folder with links and ``..`` resolved: what :func:`check_cohort` will read.

    Raises
    ------
    CohortError
        The folder is not inside one of :func:`cohort_roots` (recorded too).
    """
    from rehab_core.io.cohort import CohortError

    root = Path(folder).expanduser().resolve()
    roots = cohort_roots(store)
    if not any(root.is_relative_to(r) and root != r for r in roots):
        record_event(
            store, actor, "cohort_check", target=str(root), details={"via": via, "refused": True}
        )
        raise CohortError(
            f"{root} is not inside the server's cohorts folder "
            f"({' or '.join(str(r) for r in roots)}); ask the administrator to put it there."
        )
    record_event(store, actor, "cohort_check", target=str(root), details={"via": via})
    return root


def cohort_roots(store: Store) -> list[Path]:
    """The folders cohorts may lie under: ``DATA_DIR/cohorts`` (uploaded zips) and
    ``$REHAB_COHORTS_DIR`` when set; symbolic links resolved."""
    roots = [store.data_dir / "cohorts"]
    configured = os.environ.get(COHORTS_DIR_ENV, "").strip()
    if configured:
        roots.append(Path(configured).expanduser())
    return [r.resolve() for r in roots]


def _cohort_root(folder: Path) -> Path:
    """The folder holding ``participants.tsv``: the archive's top level or its one subfolder."""
    from rehab_core.io.cohort import CohortError

    if (folder / "participants.tsv").is_file():
        return folder
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subfolders) == 1 and (subfolders[0] / "participants.tsv").is_file():
        return subfolders[0]
    raise CohortError(
        "The zip holds no participants.tsv at its top level or in its one top folder; "
        "zip the cohort folder itself."
    )


def unpack_cohort_zip(
    data: bytes | str | os.PathLike[str],
    cohorts_dir: str | os.PathLike[str],
    *,
    name: str = "cohort.zip",
    **limits: Any,
) -> Path:
    """Unpack an uploaded cohort zip under ``cohorts_dir``; return the cohort's folder.

    The archive is checked by :func:`rehab_core.io.archive.extract_zip`
    (no absolute paths, no ``..``, no links, size, file count and compression
    ratio within :data:`ZIP_LIMITS` unless ``limits`` says otherwise) and
    unpacked into a folder named by its SHA-256, so the same zip uploaded
    twice is unpacked once. Nothing is left behind when it is refused.
    ``name`` (the uploaded file's name) only names the archive in messages.

    Raises
    ------
    rehab_core.io.InputError
        An unsafe or damaged archive, or one without a cohort table.
    """
    from rehab_core.io.archive import extract_zip

    cohorts_dir = Path(cohorts_dir)
    cohorts_dir.mkdir(parents=True, exist_ok=True)
    payload = data if isinstance(data, bytes) else Path(data).read_bytes()
    digest = hashlib.sha256(payload).hexdigest()[:16]
    dest = cohorts_dir / digest
    if dest.is_dir():
        return _cohort_root(dest)
    with tempfile.TemporaryDirectory(dir=cohorts_dir, prefix=".upload-") as tmp:
        # the user's name is metadata: only its last part, in a folder of our own
        shown = Path(str(name).replace("\\", "/")).name or "cohort.zip"
        archive = Path(tmp) / (shown if shown.lower().endswith(".zip") else "cohort.zip")
        archive.write_bytes(payload)
        staging = Path(tmp) / "unpacked"
        extract_zip(archive, staging, **{**ZIP_LIMITS, **limits})
        _cohort_root(staging)  # refuse before keeping anything
        try:
            os.replace(staging, dest)
        except OSError:
            if not dest.is_dir():  # not a concurrent twin upload
                raise
            shutil.rmtree(staging, ignore_errors=True)
    return _cohort_root(dest)
