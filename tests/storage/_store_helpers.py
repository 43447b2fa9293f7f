"""Helpers shared by the store's tests (tests/storage is on sys.path while they run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def stored_files(store) -> list[Path]:
    root = store.data_dir / "files"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def leftovers(store) -> list[Path]:
    """Anything left in the working folder (must be nothing after every upload)."""
    tmp = store.data_dir / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def prediction_outputs(p: float = 0.7) -> dict:
    return {
        "probability_good": p,
        "label": "good" if p > 0.5 else "poor",
        "signal_score": float("nan"),
        "model_id": "shufflenet_lstm",
        "weights_sha256": "ab" * 32,
        "preprocessing": {"signals": {"l_freq": 0.5}},
        "inputs": {"rec.txt": "cd" * 32},
        "window_probabilities": np.array([0.1, 0.2]),
    }


def patient_with_records(store, pseudonym, signals, fmri):
    p = store.create_patient(pseudonym)
    s = store.add_upload(p.id, "signals", "a.txt", signals)
    f = store.add_upload(p.id, "fmri", "b.nii.gz", fmri)
    store.add_prediction(p.id, prediction_outputs(), upload_ids=[s.id, f.id])
    return p, s, f
