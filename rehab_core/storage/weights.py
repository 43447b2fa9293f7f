"""Model weights on disk: safetensors plus a JSON manifest, never pickle.

A *bundle* is one folder::

    weights/<model_id>/
        model.safetensors   every tensor of the model(s), names prefixed by part
        manifest.json       provenance, settings, metrics and the file's SHA-256

The manifest records what a reader needs to trust and reproduce a
prediction: model names and version, the training data (description and
hash), preprocessing settings, split, seed, metrics with intervals, the date,
and whether ImageNet weights were used.  :func:`load_bundle` recomputes the
SHA-256 of ``model.safetensors`` and refuses a file that does not match; the
manifest carries a hash of itself (``manifest_sha256``), checked too.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehab_core._files import write_atomic
from rehab_core._json import to_jsonable

__all__ = [
    "Bundle",
    "WeightsError",
    "WeightsIntegrityError",
    "save_bundle",
    "load_bundle",
    "list_bundles",
    "read_manifest",
    "manifest_digest",
]

TENSORS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1


class WeightsError(RuntimeError):
    """A weights bundle cannot be used (missing, unreadable or inconsistent)."""


class WeightsIntegrityError(WeightsError):
    """The weights file does not match the SHA-256 recorded in its manifest."""


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: tensors by name (CPU) and the manifest."""

    path: Path
    tensors: dict[str, Any]
    manifest: dict[str, Any]

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
    manifest: dict[str, Any],
) -> Path:
    """Write a bundle: ``state_dicts`` maps a part name to a torch state dict.

    Tensors are stored as ``"<part>.<key>"``; the manifest gains
    ``manifest_version``, ``created`` (UTC, ISO 8601), ``files`` and
    ``sha256`` of the tensors file; NaN (an AUC undefined on one outcome, say)
    is stored as ``null``.  Both files are written atomically
    (temporary file, fsync, rename), the manifest last, so a reader never
    sees a manifest whose tensors are not complete.
    """
    import hashlib

    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flat = {}
    for part, sd in state_dicts.items():
        for key, tensor in sd.items():
            flat[f"{part}.{key}"] = tensor.detach().to("cpu").contiguous()
    blob = save(flat, metadata={"format": "pt"})
    write_atomic(out / TENSORS_FILE, blob)
    full = {
        **to_jsonable(manifest),
        "manifest_version": MANIFEST_VERSION,
        "created": manifest.get("created")
        or _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "files": {TENSORS_FILE: {"bytes": len(blob)}},
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    full["manifest_sha256"] = manifest_digest(full)
    text = json.dumps(full, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_atomic(out / MANIFEST_FILE, text.encode())
    return out


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON, its own ``manifest_sha256`` left out.

    Protects what the tensors' hash does not cover: the fusion weight, the
    FMA regressor, the preprocessing settings a prediction depends on.
    """
    import hashlib

    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a bundle's manifest without touching the tensors."""
    folder = Path(path)
    file = folder / MANIFEST_FILE
    if not file.is_file():
        raise WeightsError(f"{folder} is not a weights bundle: it has no {MANIFEST_FILE}.")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise WeightsError(f"The manifest of {folder.name} is not valid JSON ({err.msg}).") from err


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle after checking the tensors file against the manifest's SHA-256."""
    import hashlib

    from safetensors import SafetensorError
    from safetensors.torch import load

    folder = Path(path)
    manifest = read_manifest(folder)
    file = folder / TENSORS_FILE
    if not file.is_file():
        raise WeightsError(f"The bundle {folder.name} has a manifest but no {TENSORS_FILE}.")
    if manifest.get("manifest_sha256") != manifest_digest(manifest):
        raise WeightsIntegrityError(
            f"The manifest of {folder.name} was changed after it was written "
            "(its SHA-256 does not match), so the bundle is not loaded."
        )
    blob = file.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    expected = manifest.get("sha256")
    if digest != expected:
        raise WeightsIntegrityError(
            f"The weights in {folder.name} do not match their manifest "
            f"(SHA-256 {digest[:12]}… instead of {str(expected)[:12]}…); "
            "the file was changed or damaged, so it is not loaded."
        )
    try:
        tensors = load(blob)
    except SafetensorError as err:
        raise WeightsError(f"The weights in {folder.name} cannot be read ({err}).") from err
    return Bundle(path=folder, tensors=tensors, manifest=manifest)


def list_bundles(root: str | Path) -> list[dict[str, Any]]:
    """Return the manifests of every bundle under ``root`` (one level), sorted by model id."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        if (child / MANIFEST_FILE).is_file():
            manifest = read_manifest(child)
            out.append({**manifest, "path": str(child)})
    return out
