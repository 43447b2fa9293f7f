"""A training run's work folder: what makes a run resumable.

::

    work_dir/
        run.json                        the run's identity (settings, preprocessing, data)
        arrays/arrays.json, *.npy       the preprocessed cohort (plain .npy, no pickle)
        members/<model>/fold<k>/        a finished member: member.safetensors, member.json
        members/<model>/fold<k>/checkpoints/   the member being trained, every epoch

Everything is written atomically, the JSON record last, so a file that is
there is complete; only rank 0 of a ``torchrun`` launch writes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rehab_core._files import write_atomic
from rehab_core._json import to_jsonable
from rehab_core.workflows._train import is_main_process

__all__ = [
    "RUN_FORMAT",
    "WorkFolder",
    "cohort_fingerprint",
    "preprocess_cohort",
    "run_identity",
    "settings_tag",
]

RUN_FORMAT = "rehab_core.training.experiment.run/1"
"""Written in ``run.json``; unchanged since training moved to workflows, so old folders resume."""

_ARRAY_FIELDS = ("windows", "window_patients", "slices", "slice_patients")


def cohort_fingerprint(inputs: dict[str, dict[str, str]], labels: dict[str, int]) -> str:
    """SHA-256 over every input file's hash and every label: identifies the training data."""
    digest = hashlib.sha256()
    for pid in sorted(inputs):
        digest.update(pid.encode())
        digest.update(str(labels.get(pid)).encode())
        for _, sha in sorted(inputs[pid].items(), key=lambda kv: kv[1]):
            digest.update(sha.encode())
    return digest.hexdigest()


def run_identity(settings: Any, signal: dict, imaging: dict, fingerprint: str) -> dict[str, Any]:
    """What a work folder's finished members depend on: reused only when all of it matches."""
    return {
        "format": RUN_FORMAT,
        "settings": to_jsonable(settings.to_dict()),
        "signals": to_jsonable(signal),
        "imaging": to_jsonable(imaging),
        "fingerprint_sha256": fingerprint,
    }


def _arrays_key(cohort: Any, signal_settings: Any, imaging_settings: Any) -> dict[str, Any]:
    """What preprocessed arrays depend on: the settings and every input file's size and mtime."""
    files = {}
    for p in cohort.patients:
        for path in (p.signals_path, p.fmri_path, cohort.root / "participants.tsv"):
            if path is not None:
                stat = Path(path).stat()
                files[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return to_jsonable(
        {
            "signals": signal_settings.to_dict(),
            "imaging": imaging_settings.to_dict(),
            "files": files,
        }
    )


class WorkFolder:
    """The work folder of one resumable training run (see the module docstring).

    Parameters
    ----------
    path : path
        Created when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- identity ------------------------------------------------------------------------------
    def claim(self, identity: dict[str, Any]) -> None:
        """Take the folder for a run, or check that its earlier run is this same run.

        Raises ``ValueError`` (one sentence) when the folder holds another run's
        members: resuming them would mix two trainings.
        """
        marker = self.path / "run.json"
        if marker.is_file():
            earlier = json.loads(marker.read_text())
            if earlier != identity:
                differs = sorted(k for k in identity if earlier.get(k) != identity[k])
                raise ValueError(
                    f"{self.path} holds checkpoints of another training ({', '.join(differs)} "
                    "differ); resume it with the same settings and cohort or use an empty folder."
                )
            return
        if is_main_process():
            self.path.mkdir(parents=True, exist_ok=True)
            write_atomic(marker, json.dumps(identity, indent=2, sort_keys=True).encode())

    # -- preprocessed arrays -------------------------------------------------------------------
    def keep_arrays(self, cohort: Any, arrays: Any, signal_settings: Any, imaging_settings: Any):
        """Keep the preprocessed cohort in ``arrays/`` (rank 0 only)."""
        if not is_main_process():
            return
        folder = self.path / "arrays"
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAY_FIELDS:
            value = getattr(arrays, name)
            target = folder / f"{name}.npy"
            if value is None:
                target.unlink(missing_ok=True)
                continue
            tmp = folder / f".{name}.tmp.npy"
            np.save(tmp, np.asarray(value), allow_pickle=False)
            os.replace(tmp, target)
        meta = {
            "key": _arrays_key(cohort, signal_settings, imaging_settings),
            "inputs": arrays.inputs,
            "failures": arrays.failures,
            "signal_sfreq": arrays.signal_sfreq,
            "present": [n for n in _ARRAY_FIELDS if getattr(arrays, n) is not None],
        }
        # written last: its presence means every array beside it is complete
        write_atomic(folder / "arrays.json", json.dumps(to_jsonable(meta)).encode())

    def kept_arrays(self, cohort: Any, signal_settings: Any, imaging_settings: Any):
        """The kept :class:`~rehab_core.pipeline.CohortArrays` if files and settings match."""
        from rehab_core.pipeline import CohortArrays

        folder = self.path / "arrays"
        try:
            meta = json.loads((folder / "arrays.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("key") != _arrays_key(cohort, signal_settings, imaging_settings):
            return None
        try:
            loaded = {
                n: np.load(folder / f"{n}.npy", allow_pickle=False)
                if n in meta["present"]
                else None
                for n in _ARRAY_FIELDS
            }
        except (OSError, ValueError):
            return None
        return CohortArrays(
            **loaded,
            inputs=meta["inputs"],
            failures=meta["failures"],
            signal_sfreq=meta["signal_sfreq"],
        )

    # -- finished members ----------------------------------------------------------------------
    def member_dir(self, name: str, fold: int) -> Path:
        return self.path / "members" / name / f"fold{fold}"

    def checkpoint_dir(self, name: str, fold: int) -> Path:
        """Where the member being trained is checkpointed after every epoch."""
        return self.member_dir(name, fold) / "checkpoints"

    def keep_member(self, name: str, fold: int, model: Any, history: dict[str, Any]) -> None:
        """Keep a finished member (weights as safetensors, history as JSON); rank 0 only."""
        from safetensors.torch import save as save_tensors

        if not is_main_process():
            return
        folder = self.member_dir(name, fold)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        payload = save_tensors(state)
        record = {
            "history": history,
            "pretrained_source": getattr(model, "pretrained_source", None),
            "weights_sha256": hashlib.sha256(payload).hexdigest(),
        }
        write_atomic(folder / "member.safetensors", payload)
        # the JSON goes last: its presence means the weights beside it are complete
        write_atomic(folder / "member.json", json.dumps(to_jsonable(record), indent=2).encode())

    def kept_member(self, name: str, fold: int, kind: str, kwargs: dict[str, Any]):
        """``(model, history)`` of a member kept by :meth:`keep_member`, or None.

        None also for a damaged member (its weights do not match their hash):
        it is trained again.
        """
        from safetensors.torch import load as load_tensors

        from rehab_core.models import create_model

        folder = self.member_dir(name, fold)
        if not (folder / "member.json").is_file():
            return None
        record = json.loads((folder / "member.json").read_text())
        payload = (folder / "member.safetensors").read_bytes()
        if hashlib.sha256(payload).hexdigest() != record["weights_sha256"]:
            return None
        kwargs = {**kwargs, "pretrained": False} if kind == "image" else kwargs
        model = create_model(name, **kwargs)
        model.load_state_dict(load_tensors(payload))
        model.pretrained_source = record.get("pretrained_source")
        return model.eval(), record["history"]


def settings_tag(signal_settings: Any, imaging_settings: Any) -> str:
    """A short name for one preprocessing setup: the cache folder of its arrays."""
    text = json.dumps(
        to_jsonable({"signals": signal_settings.to_dict(), "imaging": imaging_settings.to_dict()}),
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def preprocess_cohort(cohort, work, signal_settings, imaging_settings, n_jobs, emit):
    """The cohort's model inputs: kept in the work folder, or preprocessed (and kept).

    ``work`` is a :class:`WorkFolder` or ``None`` (no cache); ``emit`` receives
    ``{"stage": "preprocess", ...}`` events, or ``{"stage": "preprocess_kept"}``
    when the kept arrays match the cohort's files and the settings.
    """
    from rehab_core.pipeline import prepare_cohort

    emit({"stage": "preprocess", "n_patients": len(cohort)})
    if work is not None:
        arrays = work.kept_arrays(cohort, signal_settings, imaging_settings)
        if arrays is not None:
            emit({"stage": "preprocess_kept", "n_patients": len(cohort)})
            return arrays
    arrays = prepare_cohort(
        cohort,
        signal_settings=signal_settings,
        imaging_settings=imaging_settings,
        n_jobs=n_jobs,
        progress=lambda done, total: emit({"stage": "preprocess", "done": done, "total": total}),
    )
    if work is not None:
        work.keep_arrays(cohort, arrays, signal_settings, imaging_settings)
    return arrays
