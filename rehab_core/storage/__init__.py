"""Persistent things: model weights with their manifests (patient records follow)."""

from rehab_core.storage.weights import (
    WeightsError,
    WeightsIntegrityError,
    list_bundles,
    load_bundle,
    save_bundle,
)

__all__ = [
    "WeightsError",
    "WeightsIntegrityError",
    "list_bundles",
    "load_bundle",
    "save_bundle",
]
