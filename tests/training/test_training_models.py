"""fit_model and predict_patient_scores with the package's own models (tiny inputs)."""

from __future__ import annotations

import numpy as np
import torch
from _windows import make_windows

from rehab_core.models import create_model
from rehab_core.training import (
    SliceAugmentation,
    SliceDataset,
    TrainSettings,
    WindowDataset,
    fit_model,
    patient_split,
    predict_patient_scores,
)


def test_lstm_trains_and_scores_patients():
    x, ids, labels = make_windows(n_patients=12, n_windows=3, n_chans=4, n_times=100)
    split = patient_split(list(labels), list(labels.values()), fractions=(0.5, 0.25, 0.25), seed=0)
    idx = split.item_indices(ids)
    train = WindowDataset(x, ids, labels, indices=idx["train"])
    val = WindowDataset(x, ids, labels, indices=idx["val"])
    torch.manual_seed(0)
    model = create_model("lstm", n_chans=4, n_times=100, sfreq=250.0)
    result = fit_model(model, train, val, TrainSettings.for_signals(epochs=2, batch_size=8))
    assert len(result.history) == 2 and np.isfinite(result.history[-1]["val_loss"])
    scores = predict_patient_scores(
        model, x[idx["test"]], ids[idx["test"]], batch_size=4, device="cpu"
    )
    assert sorted(scores.scores) == split.test.tolist()
    assert all(0.0 < p < 1.0 for p in scores.scores.values())


def test_image_backbone_trains_on_small_slices():
    rng = np.random.default_rng(0)
    slices = rng.normal(size=(8, 3, 32, 32)).astype(np.float32)
    ids = np.repeat(np.arange(4), 2)
    labels = {0: 0, 1: 1, 2: 0, 3: 1}
    train = SliceDataset(
        slices, ids, labels, indices=np.arange(4), augmentation=SliceAugmentation(), seed=0
    )
    val = SliceDataset(slices, ids, labels, indices=np.arange(4, 8))
    torch.manual_seed(0)
    model = create_model("shufflenet", pretrained=False)
    result = fit_model(model, train, val, TrainSettings.for_images(epochs=1, batch_size=4))
    assert np.isfinite(result.history[0]["train_loss"]) and result.history[0]["val_auc"] in (
        0.0,
        0.5,
        1.0,
    )
