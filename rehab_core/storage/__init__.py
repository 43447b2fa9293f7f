"""Persistent things: model weights with their manifests, patient records, uploads, predictions.

``open_store()`` opens the dashboard's database and file folder behind one
facade, :class:`Store` (:mod:`rehab_core.storage.store`). Its parts:

* :mod:`~rehab_core.storage.config`: data folder, database URL, upload limit (environment);
* :mod:`~rehab_core.storage.db`: the tables, and the triggers that keep the audit trail append-only;
* :mod:`~rehab_core.storage.files`: the content-addressed file store, its lock, garbage collection;
* :mod:`~rehab_core.storage.patients`, :mod:`~rehab_core.storage.uploads`,
  :mod:`~rehab_core.storage.predictions`: the records;
* :mod:`~rehab_core.storage.weights`: weights bundles, and
  :mod:`~rehab_core.storage.manifest`: their typed, versioned manifest.

Storage is a bottom layer: it imports the base helpers and :mod:`rehab_core.io`
only; who did what (the audit API) is :mod:`rehab_core.security`, and use cases
that combine storing with auditing are :mod:`rehab_core.workflows.patients`.
Importing this package does not import SQLAlchemy; :func:`open_store` and the
record types are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rehab_core.storage.manifest import BundleManifest, ManifestError
from rehab_core.storage.weights import (
    WeightsError,
    WeightsIntegrityError,
    find_bundles,
    half_precision_bundle,
    load_bundle,
    read_manifest,
    save_bundle,
)

if TYPE_CHECKING:
    from rehab_core.storage.config import DEFAULT_MAX_UPLOAD_MB, default_data_dir
    from rehab_core.storage.errors import RecordNotFound, StoredFileChanged, UploadTooLargeError
    from rehab_core.storage.files import check_stored_file
    from rehab_core.storage.patients import PatientDeletion, PatientRecord
    from rehab_core.storage.predictions import PredictionRecord
    from rehab_core.storage.store import Store, open_store
    from rehab_core.storage.uploads import KINDS, UPLOAD_SUFFIXES, UploadRecord

_LAZY = {
    "Store": "store",
    "open_store": "store",
    "PatientRecord": "patients",
    "PatientDeletion": "patients",
    "UploadRecord": "uploads",
    "UPLOAD_SUFFIXES": "uploads",
    "KINDS": "uploads",
    "PredictionRecord": "predictions",
    "RecordNotFound": "errors",
    "UploadTooLargeError": "errors",
    "StoredFileChanged": "errors",
    "check_stored_file": "files",
    "DEFAULT_MAX_UPLOAD_MB": "config",
    "default_data_dir": "config",
}

__all__ = [
    "StoredFileChanged",
    "check_stored_file",
    "BundleManifest",
    "ManifestError",
    "WeightsError",
    "WeightsIntegrityError",
    "find_bundles",
    "half_precision_bundle",
    "load_bundle",
    "read_manifest",
    "save_bundle",
    "Store",
    "open_store",
    "PatientRecord",
    "PatientDeletion",
    "UploadRecord",
    "UPLOAD_SUFFIXES",
    "KINDS",
    "PredictionRecord",
    "RecordNotFound",
    "UploadTooLargeError",
    "DEFAULT_MAX_UPLOAD_MB",
    "default_data_dir",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # the store's names, imported on first use
        module = importlib.import_module(f"rehab_core.storage.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'rehab_core.storage' has no attribute {name!r}")
