"""Model weights on disk: safetensors plus a JSON manifest, never pickle.

A *bundle* is one folder::

    weights/<model_id>/
        model.safetensors   every tensor of the model(s), names prefixed by part
        manifest.json       provenance, settings, metrics and the file's SHA-256

The manifest (:class:`~rehab_core.storage.manifest.BundleManifest`, typed and
versioned) records what a reader needs to trust and reproduce a prediction:
model names and version, the training data (description, synthetic or real,
hash), preprocessing settings, split, seed, metrics with intervals, the date,
and whether ImageNet weights were used.  :func:`load_bundle` recomputes the
SHA-256 of ``model.safetensors`` and refuses a file that does not match; the
manifest carries a hash of itself (``manifest_sha256``), checked too.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehab_core._files import write_atomic
from rehab_core.storage.manifest import BundleManifest, ManifestError

__all__ = [
    "Bundle",
    "WeightsError",
    "WeightsIntegrityError",
    "find_bundles",
    "half_precision_bundle",
    "load_bundle",
    "manifest_digest",
    "read_manifest",
    "save_bundle",
]

TENSORS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"


class WeightsError(RuntimeError):
    """A weights bundle cannot be used (missing, unreadable or inconsistent)."""


class WeightsIntegrityError(WeightsError):
    """The weights file does not match the SHA-256 recorded in its manifest."""


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: tensors by name (CPU) and the manifest."""

    path: Path
    tensors: dict[str, Any]
    manifest: BundleManifest

    def part(self, prefix: str) -> dict[str, Any]:
        """Return the state dict of one part (e.g. ``"signal"``), prefix removed."""
        head = prefix + "."
        out = {k[len(head) :]: v for k, v in self.tensors.items() if k.startswith(head)}
        if not out:
            raise WeightsError(f"The bundle {self.path.name} holds no weights for {prefix!r}.")
        return out


def save_bundle(
    out_dir: str | Path,
    state_dicts: dict[str, dict[str, Any]],
    manifest: BundleManifest,
    *,
    half: bool = False,
) -> Path:
    """Write a bundle: ``state_dicts`` maps a part name to a torch state dict.

    Tensors are stored as ``"<part>.<key>"``; the manifest is written with
    ``created`` (UTC, ISO 8601, unless already set), ``files``, ``sha256`` of
    the tensors file and ``manifest_sha256``; NaN (an AUC undefined on one
    outcome, say) is stored as ``null``.  Both files are written atomically
    (temporary file, fsync, rename), the manifest last, so a reader never
    sees a manifest whose tensors are not complete.

    With ``half=True`` every floating-point tensor is stored as float16 (half
    the bytes; loading casts it back into the model's float32 parameters) and
    ``files`` records ``"floating_dtype": "float16"``. A value float16 cannot
    hold is refused rather than stored as infinity.
    """
    import hashlib

    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flat = {}
    for part, sd in state_dicts.items():
        for key, tensor in sd.items():
            value = tensor.detach().to("cpu").contiguous()
            if half and value.is_floating_point():
                value = _to_half(value, f"{part}.{key}")
            flat[f"{part}.{key}"] = value
    blob = save(flat, metadata={"format": "pt"})
    write_atomic(out / TENSORS_FILE, blob)
    if not isinstance(manifest, BundleManifest):
        raise TypeError(f"manifest must be a BundleManifest, got {type(manifest).__name__}.")
    full = dataclasses.replace(
        manifest,
        created=manifest.created or _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        files={
            TENSORS_FILE: {
                "bytes": len(blob),
                "floating_dtype": "float16" if half else "float32",
            }
        },
        sha256=hashlib.sha256(blob).hexdigest(),
        manifest_sha256=None,
    ).to_dict()
    full["manifest_sha256"] = manifest_digest(full)
    text = json.dumps(full, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_atomic(out / MANIFEST_FILE, text.encode())
    return out


def _to_half(value: Any, name: str) -> Any:
    import torch

    finite = value[torch.isfinite(value)]
    if finite.numel() and float(finite.abs().max()) > torch.finfo(torch.float16).max:
        raise WeightsError(f"{name} holds values too large for half precision; keep it float32.")
    return value.to(torch.float16)


def half_precision_bundle(src: str | Path, dst: str | Path) -> Path:
    """Copy the bundle ``src`` to ``dst`` with its floating-point weights in float16.

    The manifest is kept as it is (its metrics were measured with the float32
    weights, which is said in a note); hashes and ``files`` are those of the
    new tensors file. ``dst`` must not be ``src``: the original stays until the
    copy is checked.
    """
    source = load_bundle(src)
    if Path(dst).resolve() == source.path.resolve():
        raise WeightsError("Write the half-precision copy to another folder than the bundle.")
    parts: dict[str, dict[str, Any]] = {}
    for name, tensor in source.tensors.items():
        part, key = name.split(".", 1)
        parts.setdefault(part, {})[key] = tensor
    note = "weights stored in float16; the metrics were measured with the float32 weights"
    notes = source.manifest.notes
    manifest = dataclasses.replace(
        source.manifest, notes=notes if note in notes else (*notes, note)
    )
    return save_bundle(dst, parts, manifest, half=True)


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON, its own ``manifest_sha256`` left out.

    Protects what the tensors' hash does not cover: the fusion weight, the
    FMA regressor, the preprocessing settings a prediction depends on.
    """
    import hashlib

    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _read_json(folder: Path) -> dict[str, Any]:
    file = folder / MANIFEST_FILE
    if not file.is_file():
        raise WeightsError(f"{folder} is not a weights bundle: it has no {MANIFEST_FILE}.")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise WeightsError(f"The manifest of {folder.name} is not valid JSON ({err.msg}).") from err


def _typed(raw: dict[str, Any], folder: Path) -> BundleManifest:
    try:
        return BundleManifest.from_dict(raw, source=f"The manifest of {folder.name}")
    except ManifestError as err:
        raise WeightsError(str(err)) from err


def read_manifest(path: str | Path) -> BundleManifest:
    """Read and validate a bundle's manifest without touching the tensors.

    Raises :class:`WeightsError` (one sentence) for a folder without a
    manifest, invalid JSON or a manifest that does not follow the schema; a
    schema-1 manifest is converted (:func:`~rehab_core.storage.manifest.manifest_from_v1`).
    """
    folder = Path(path)
    return _typed(_read_json(folder), folder)


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle after checking the tensors file against the manifest's SHA-256.

    Both hashes are checked on the manifest file as written (its own
    ``manifest_sha256`` too), before it is read into a :class:`BundleManifest`.
    """
    import hashlib

    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = Path(path)
    raw = _read_json(folder)
    file = folder / TENSORS_FILE
    if not file.is_file():
        raise WeightsError(f"The bundle {folder.name} has a manifest but no {TENSORS_FILE}.")
    if raw.get("manifest_sha256") != manifest_digest(raw):
        raise WeightsIntegrityError(
            f"The manifest of {folder.name} was changed after it was written "
            "(its SHA-256 does not match), so the bundle is not loaded."
        )
    blob = file.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    expected = raw.get("sha256")
    if digest != expected:
        raise WeightsIntegrityError(
            f"The weights in {folder.name} do not match their manifest "
            f"(SHA-256 {digest[:12]}… instead of {str(expected)[:12]}…); "
            "the file was changed or damaged, so it is not loaded."
        )
    manifest = _typed(raw, folder)
    try:
        tensors = load(blob)
    except SafetensorError as err:
        raise WeightsError(f"The weights in {folder.name} cannot be read ({err}).") from err
    return Bundle(path=folder, tensors=tensors, manifest=manifest)


def find_bundles(path: str | Path) -> list[Path]:
    """The bundle folder ``path`` itself, or every bundle one level below it, sorted.

    A bundle is a folder with a ``manifest.json``; an empty list when there is
    none (or ``path`` does not exist).
    """
    root = Path(path)
    if (root / MANIFEST_FILE).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(child for child in root.iterdir() if (child / MANIFEST_FILE).is_file())
