"""Persistent things: model weights with their manifests, patient records, uploads, predictions.

``open_store()`` opens the dashboard's database and file folder
(:mod:`rehab_core.storage.store`); the tables are in :mod:`rehab_core.storage.db`.
Weights bundles are in :mod:`rehab_core.storage.weights`, their typed manifest in
:mod:`rehab_core.storage.manifest`. Importing this
package does not import SQLAlchemy; :func:`open_store` and the record types
are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rehab_core.storage.manifest import BundleManifest, ManifestError
from rehab_core.storage.weights import (
    WeightsError,
    WeightsIntegrityError,
    find_bundles,
    load_bundle,
    read_manifest,
    save_bundle,
)

if TYPE_CHECKING:
    from rehab_core.storage.store import (
        KINDS,
        UPLOAD_SUFFIXES,
        PatientDeletion,
        PatientRecord,
        PredictionRecord,
        RecordNotFound,
        Store,
        UploadRecord,
        UploadTooLargeError,
        open_store,
    )

__all__ = [
    "BundleManifest",
    "ManifestError",
    "WeightsError",
    "WeightsIntegrityError",
    "find_bundles",
    "load_bundle",
    "read_manifest",
    "save_bundle",
    "Store",
    "open_store",
    "PatientRecord",
    "UploadRecord",
    "PredictionRecord",
    "PatientDeletion",
    "RecordNotFound",
    "UploadTooLargeError",
    "UPLOAD_SUFFIXES",
    "KINDS",
]


def __getattr__(name: str) -> Any:
    if name in __all__:  # the store's names, imported on first use
        from rehab_core.storage import store

        return getattr(store, name)
    raise AttributeError(f"module 'rehab_core.storage' has no attribute {name!r}")
