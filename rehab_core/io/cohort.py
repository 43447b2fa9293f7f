"""A cohort on disk: the BIDS-like layout the demo generator writes and researchers bring.

::

    COHORT/
        participants.tsv        participant_id, fma_le_3m (and outcome), clinical columns
        ground_truth.tsv        (synthetic cohorts only) latents and Bayes-optimal P(good)
        sub-XXX/eeg/<any>.txt|.edf|.bdf|.vhdr|.fif|.set     EEG-EMG (optional per patient)
        sub-XXX/func/<any>_bold.nii[.gz]                     rs-fMRI (optional per patient)

The label is recomputed from ``fma_le_3m`` (good when > 17 of 34, as in the
paper), so a cohort needs only the 3-month score; an ``outcome`` column, when
present, must agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehab_core.io.errors import InputError

__all__ = [
    "CohortError",
    "CohortPatient",
    "Cohort",
    "read_cohort",
    "GOOD_OUTCOME_THRESHOLD",
    "outcome_from_fma",
]

GOOD_OUTCOME_THRESHOLD = 17
"""A 3-month lower-limb FMA above this (of 34) is a good outcome (paper, §2.1)."""

_SIGNAL_SUFFIXES = (".txt", ".edf", ".bdf", ".vhdr", ".fif", ".fif.gz", ".set")
_FMRI_SUFFIXES = (".nii", ".nii.gz")


class CohortError(InputError):
    """A cohort folder that cannot be used for training or evaluation."""


def outcome_from_fma(fma_3m: float) -> int:
    """1 (good) when the 3-month lower-limb FMA is above 17 of 34, else 0 (poor)."""
    return int(fma_3m > GOOD_OUTCOME_THRESHOLD)


@dataclass(frozen=True)
class CohortPatient:
    """One row of ``participants.tsv`` with the files found for it."""

    participant_id: str
    fma_le_3m: float | None
    signals_path: Path | None
    fmri_path: Path | None
    clinical: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> int | None:
        return None if self.fma_le_3m is None else outcome_from_fma(self.fma_le_3m)

    @property
    def baseline_fma(self) -> float:
        """Baseline lower-limb FMA from ``fma_le_baseline``; NaN when absent or ``n/a``."""
        try:
            value = float(self.clinical.get("fma_le_baseline"))
        except (TypeError, ValueError):
            return float("nan")
        return value if 0 <= value <= 34 else float("nan")


@dataclass(frozen=True)
class Cohort:
    """A cohort: its root, the patients in ``participants.tsv`` order, and any ground truth."""

    root: Path
    patients: tuple[CohortPatient, ...]
    ground_truth: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.patients)

    @property
    def ids(self) -> list[str]:
        return [p.participant_id for p in self.patients]

    def summary(self) -> dict[str, Any]:
        """Counts a researcher checks before training: patients, balance, modalities."""
        labels = [p.label for p in self.patients]
        both = sum(p.signals_path is not None and p.fmri_path is not None for p in self.patients)
        return {
            "root": str(self.root),
            "n_patients": len(self.patients),
            "n_good": sum(lab == 1 for lab in labels),
            "n_poor": sum(lab == 0 for lab in labels),
            "n_unlabelled": sum(lab is None for lab in labels),
            "n_with_signals": sum(p.signals_path is not None for p in self.patients),
            "n_with_fmri": sum(p.fmri_path is not None for p in self.patients),
            "n_with_both": both,
            "has_ground_truth": bool(self.ground_truth),
        }


def _find_one(folder: Path, suffixes: tuple[str, ...], kind: str) -> Path | None:
    if not folder.is_dir():
        return None
    found = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and any(p.name.lower().endswith(s) for s in suffixes)
    )
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise CohortError(
            f"{folder} holds more than one {kind} recording ({names}); keep one per patient."
        )
    return found[0] if found else None


def _read_tsv(path: Path) -> list[dict[str, str]]:
    """The table's rows; a file that is not UTF-8 tab-separated text is one sentence."""
    import csv

    where = f"{path.parent.name}/{path.name}"
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t", restval=""))
    except UnicodeDecodeError as err:
        raise CohortError(
            f"{where} is not UTF-8 text (byte {err.start}); expected a tab-separated table."
        ) from err
    except csv.Error as err:
        raise CohortError(
            f"{where} is not a readable tab-separated table ({err}); expected one row per patient."
        ) from err
    for line, row in enumerate(rows, start=2):
        if None in row:  # more cells than columns (fewer are read as empty)
            raise CohortError(
                f"{where} line {line} holds more cells than the header has columns; "
                "expected one tab-separated value per column."
            )
    return rows


def _participant_id(value: str, where: str) -> str:
    """The stripped id, refused when empty or not a plain folder name (no path parts)."""
    pid = value.strip()
    if not pid or pid in (".", "..") or any(c in pid for c in "/\\:") or not pid.isprintable():
        raise CohortError(
            f"{where} lists the participant_id {pid!r}, which is not a plain folder name; "
            "expected ids such as sub-001."
        )
    return pid


def read_cohort(root: str | Path, *, require_labels: bool = True) -> Cohort:
    """Read a cohort folder and check it can be used.

    Parameters
    ----------
    root : path
        The cohort folder (see the module docstring for the layout).
    require_labels : bool
        Refuse patients without a 3-month FMA-LE (training and evaluation
        need one for every patient); ``False`` for prediction over a cohort.

    Raises
    ------
    CohortError
        One plain sentence: no ``participants.tsv``, a missing column,
        missing or inconsistent labels, a patient with no recording at all.
    """
    root = Path(root)
    table = root / "participants.tsv"
    if not root.is_dir():
        raise CohortError(f"The cohort folder {root} does not exist.")
    if not table.is_file():
        raise CohortError(
            f"{root.name} has no participants.tsv; a cohort needs one row per patient "
            "with participant_id and fma_le_3m."
        )
    rows = _read_tsv(table)
    if not rows:
        raise CohortError(f"{root.name}/participants.tsv lists no patients.")
    columns = set(rows[0])
    if "participant_id" not in columns:
        raise CohortError(f"{root.name}/participants.tsv has no participant_id column.")
    if require_labels and "fma_le_3m" not in columns:
        raise CohortError(
            f"{root.name}/participants.tsv has no fma_le_3m column; training needs each "
            "patient's 3-month lower-limb Fugl-Meyer score."
        )
    patients, unlabelled, disagree, empty = [], [], [], []
    seen: set[str] = set()
    for row in rows:
        pid = _participant_id(row["participant_id"], f"{root.name}/participants.tsv")
        if pid in seen:
            raise CohortError(f"{root.name}/participants.tsv lists {pid} twice.")
        seen.add(pid)
        raw_fma = (row.get("fma_le_3m") or "").strip()
        fma: float | None
        if raw_fma in ("", "n/a", "NA", "nan"):
            fma = None
            unlabelled.append(pid)
        else:
            try:
                fma = float(raw_fma)
            except ValueError as err:
                raise CohortError(
                    f"{root.name}/participants.tsv gives {pid} the 3-month FMA-LE "
                    f"{raw_fma!r}; expected a number from 0 to 34."
                ) from err
            if not 0 <= fma <= 34:
                raise CohortError(
                    f"{root.name}/participants.tsv gives {pid} the 3-month FMA-LE {fma:g}; "
                    "the lower-limb scale runs from 0 to 34."
                )
            stated = (row.get("outcome") or "").strip().lower()
            if stated in ("good", "poor") and stated != (
                "good" if outcome_from_fma(fma) else "poor"
            ):
                disagree.append(pid)
        subject = root / pid
        signals = _find_one(subject / "eeg", _SIGNAL_SUFFIXES, "EEG-EMG")
        fmri = _find_one(subject / "func", _FMRI_SUFFIXES, "fMRI")
        if signals is None and fmri is None:
            empty.append(pid)
        clinical = {
            k: v for k, v in row.items() if k not in ("participant_id", "fma_le_3m", "outcome")
        }
        patients.append(CohortPatient(pid, fma, signals, fmri, clinical))
    if require_labels and unlabelled:
        raise CohortError(
            f"{root.name}/participants.tsv gives no 3-month FMA-LE for "
            f"{_list(unlabelled)}; training needs it for every patient."
        )
    if disagree:
        raise CohortError(
            f"{root.name}/participants.tsv states an outcome that disagrees with fma_le_3m "
            f"for {_list(disagree)} (good means above {GOOD_OUTCOME_THRESHOLD} of 34)."
        )
    if empty:
        raise CohortError(
            f"{root.name} has no EEG-EMG or fMRI file for {_list(empty)} "
            "(expected sub-XXX/eeg/… or sub-XXX/func/…_bold.nii.gz)."
        )
    truth: dict[str, dict[str, Any]] = {}
    if (root / "ground_truth.tsv").is_file():
        truth = {r["participant_id"]: r for r in _read_tsv(root / "ground_truth.tsv")}
    return Cohort(root=root, patients=tuple(patients), ground_truth=truth)


def _list(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown} and {len(ids) - limit} more"
