"""Crash-safe training checkpoints: safetensors for tensors, JSON for the rest.

No pickle is involved (``torch.save`` is pickle and can run code on load).
A checkpoint of epoch ``k`` is two files in one folder::

    epoch-0007.safetensors   every tensor (model, best weights, optimiser moments, RNG)
    epoch-0007.json          everything else, the tensor file's name and SHA-256

Each file is written to a temporary name, flushed to disk (``fsync``) and
renamed into place; the JSON goes last, so an existing JSON always points at
a complete tensor file.  Older checkpoints are removed only after the new
one is in place, so a run killed at any moment leaves a usable checkpoint.

:class:`CheckpointWriter` does the same in a background thread: training
goes on while the bytes are serialised, hashed and flushed to disk.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rehab_core._files import fsync_dir, write_atomic

if TYPE_CHECKING:
    import torch

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointWriter",
    "flatten_optimizer_state",
    "read_latest_checkpoint",
    "unflatten_optimizer_state",
    "write_checkpoint",
]

_NAME = re.compile(r"^epoch-(\d{4,})\.json$")
FORMAT = "rehab_core.training.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (damaged, or from another model or settings)."""


@dataclass(frozen=True)
class Checkpoint:
    """One loaded checkpoint: its epoch, tensors (on CPU) and JSON metadata."""

    epoch: int
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path


def write_checkpoint(
    directory: str | os.PathLike[str],
    epoch: int,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    keep_last: int = 1,
) -> Path:
    """Write the checkpoint of ``epoch`` atomically and prune older ones.

    Parameters
    ----------
    directory : path
        Folder of the run's checkpoints (created if missing).
    epoch : int
        The completed epoch (1-based).
    tensors : dict of str to Tensor
        Saved as safetensors; copied to contiguous CPU tensors first, so
        shared or non-contiguous tensors are fine.
    meta : dict
        JSON-serialisable metadata (NaN and infinities are allowed, as
        Python's ``json`` writes them).
    keep_last : int
        How many of the newest checkpoints to keep.

    Returns
    -------
    Path
        The JSON file of the new checkpoint.
    """
    if keep_last < 1:
        raise ValueError(f"keep_last={keep_last!r} must be at least 1.")
    cpu = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}
    return _write_files(Path(directory), epoch, cpu, meta, keep_last)


def _write_files(
    folder: Path, epoch: int, cpu: dict[str, torch.Tensor], meta: dict[str, Any], keep_last: int
) -> Path:
    from safetensors.torch import save as save_tensors

    folder.mkdir(parents=True, exist_ok=True)
    blob = save_tensors(cpu, metadata={"format": FORMAT, "epoch": str(epoch)})
    stem = f"epoch-{epoch:04d}"
    tensor_path = folder / f"{stem}.safetensors"
    write_atomic(tensor_path, blob)
    record = {
        "format": FORMAT,
        "epoch": epoch,
        "tensors_file": tensor_path.name,
        "tensors_sha256": hashlib.sha256(blob).hexdigest(),
        "meta": meta,
    }
    json_path = folder / f"{stem}.json"
    write_atomic(json_path, json.dumps(record, indent=1, sort_keys=True).encode("utf-8"))
    fsync_dir(folder)
    for _, old_json in _list_checkpoints(folder)[:-keep_last]:
        old_json.unlink(missing_ok=True)
        old_json.with_suffix(".safetensors").unlink(missing_ok=True)
    return json_path


class CheckpointWriter:
    """Writes checkpoints (as :func:`write_checkpoint`) in a background thread, one at a time.

    :meth:`submit` copies the tensors to the CPU and the metadata at once
    (so training may change them right after) and returns; serialising,
    hashing, writing and ``fsync`` happen in a thread.  The next
    :meth:`submit` and :meth:`join` wait for the previous write and raise
    its error, if any; call :meth:`join` before relying on the files (the
    training loop does at its end, also when it fails).

    Parameters
    ----------
    keep_last : int
        How many of the newest checkpoints to keep.

    Attributes
    ----------
    written : list of Path
        The JSON file of every checkpoint completed so far.
    """

    def __init__(self, *, keep_last: int = 1) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last={keep_last!r} must be at least 1.")
        self.keep_last = keep_last
        self.written: list[Path] = []
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(
        self,
        directory: str | os.PathLike[str],
        epoch: int,
        tensors: dict[str, torch.Tensor],
        meta: dict[str, Any],
    ) -> None:
        """Snapshot ``tensors`` and ``meta`` now; write them in the background."""
        self.join()
        cpu = {name: t.detach().to("cpu", copy=True).contiguous() for name, t in tensors.items()}
        frozen_meta = copy.deepcopy(meta)
        folder = Path(directory)

        def work() -> None:
            try:
                self.written.append(_write_files(folder, epoch, cpu, frozen_meta, self.keep_last))
            except BaseException as err:  # handed to the training thread by join()
                self._error = err

        self._thread = threading.Thread(target=work, name=f"checkpoint-{epoch}", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """Whether a checkpoint is being written now."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, *, raise_error: bool = True) -> None:
        """Wait for the write in progress; raise its error unless ``raise_error`` is False."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and raise_error:
            raise error


def _list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_latest_checkpoint(directory: str | os.PathLike[str]) -> Checkpoint | None:
    """Load the newest complete checkpoint in ``directory``, or None if there is none.

    Raises
    ------
    CheckpointError
        If the newest checkpoint's tensor file is missing or does not match
        its recorded SHA-256.
    """
    from safetensors.torch import load as load_tensors

    folder = Path(directory)
    if not folder.is_dir():
        return None
    found = _list_checkpoints(folder)
    if not found:
        return None
    epoch, json_path = found[-1]
    record = json.loads(json_path.read_text(encoding="utf-8"))
    if record.get("format") != FORMAT:
        raise CheckpointError(
            f"{json_path} is not a {FORMAT} checkpoint (format {record.get('format')!r})."
        )
    tensor_path = folder / record["tensors_file"]
    if not tensor_path.is_file():
        raise CheckpointError(
            f"{json_path} names {tensor_path.name}, which is missing; "
            f"delete the folder to start over."
        )
    blob = tensor_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != record["tensors_sha256"]:
        raise CheckpointError(
            f"{tensor_path} does not match the SHA-256 in {json_path.name}; the file is damaged."
        )
    return Checkpoint(epoch=epoch, tensors=load_tensors(blob), meta=record["meta"], path=json_path)


def flatten_optimizer_state(
    state_dict: dict[str, Any], prefix: str = "optimizer"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser ``state_dict`` into named tensors and a JSON index.

    Parameters
    ----------
    state_dict : dict
        ``optimizer.state_dict()``: ``{"state": {param_id: {name: value}},
        "param_groups": [...]}``.
    prefix : str
        Prefix of the tensor names (``"{prefix}/{param_id}/{name}"``).

    Returns
    -------
    tensors : dict of str to Tensor
    index : dict
        JSON-ready: ``param_groups`` unchanged and, per parameter, each state
        entry as ``{"tensor": name}`` or ``{"value": plain value}``.
    """
    import torch

    tensors: dict[str, torch.Tensor] = {}
    state: dict[str, dict[str, Any]] = {}
    for param_id, entries in state_dict["state"].items():
        flat: dict[str, Any] = {}
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                key = f"{prefix}/{param_id}/{name}"
                tensors[key] = value
                flat[name] = {"tensor": key}
            else:
                flat[name] = {"value": value}
        state[str(param_id)] = flat
    groups = []
    for group in state_dict["param_groups"]:
        for key, value in group.items():
            if isinstance(value, torch.Tensor):
                raise TypeError(
                    f"optimizer param_groups entry {key!r} is a tensor; "
                    f"checkpoints need plain numbers there."
                )
        groups.append(dict(group))
    return tensors, {"state": state, "param_groups": groups}


def unflatten_optimizer_state(
    tensors: dict[str, torch.Tensor], index: dict[str, Any], like: dict[str, Any]
) -> dict[str, Any]:
    """Rebuild an optimiser ``state_dict`` from :func:`flatten_optimizer_state` output.

    ``like`` is the live optimiser's ``state_dict()``: JSON lists in
    ``param_groups`` are turned back into tuples where it holds tuples
    (e.g. Adam's ``betas``).
    """
    state = {}
    for param_id, entries in index["state"].items():
        state[int(param_id)] = {
            name: tensors[entry["tensor"]] if "tensor" in entry else entry["value"]
            for name, entry in entries.items()
        }
    groups = []
    for saved, live in zip(index["param_groups"], like["param_groups"], strict=True):
        group = {}
        for key, value in saved.items():
            if isinstance(live.get(key), tuple) and isinstance(value, list):
                value = tuple(value)
            group[key] = value
        groups.append(group)
    return {"state": state, "param_groups": groups}
