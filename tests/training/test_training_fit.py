from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from _windows import make_windows

from rehab_core.training.checkpoint import CheckpointError
from rehab_core.training.datasets import SliceAugmentation, SliceDataset, WindowDataset
from rehab_core.training.loop import fit_model
from rehab_core.training.settings import TrainSettings
from rehab_core.training.splits import patient_split


class MeanNet(torch.nn.Module):
    """Averages each channel over time, then a small MLP with dropout: logits (batch, 1)."""

    def __init__(self, n_chans: int = 3, drop: float = 0.2):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_chans, 8),
            torch.nn.ReLU(),
            torch.nn.Dropout(drop),
            torch.nn.Linear(8, 1),
        )

    def forward(self, x):
        return self.body(x.mean(dim=-1))


class TinySliceNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.drop = torch.nn.Dropout(0.1)
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.conv(x)).mean(dim=(-2, -1))))


def _datasets(shift: float = 0.8, n_patients: int = 24, *, flip_val: bool = False):
    x, ids, labels = make_windows(n_patients=n_patients, shift=shift)
    split = patient_split(list(labels), list(labels.values()), seed=0)
    idx = split.item_indices(ids)
    val_labels = {k: 1 - v for k, v in labels.items()} if flip_val else labels
    return (
        WindowDataset(x, ids, labels, indices=idx["train"]),
        WindowDataset(x, ids, val_labels, indices=idx["val"]),
    )


def _other_mean_net() -> torch.nn.Module:
    """A model with MeanNet's class name but other layers."""

    class MeanNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Linear(3, 1)

        def forward(self, x):
            return self.body(x.mean(dim=-1))

    return MeanNet()


def _model(seed: int = 0) -> MeanNet:
    torch.manual_seed(seed)
    return MeanNet()


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def _without_seconds(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


class Stop(Exception):
    """Raised by a progress callback to simulate a run killed after an epoch."""


def test_separable_problem_reaches_low_loss_and_stops_early():
    train, val = _datasets()
    settings = TrainSettings(
        epochs=60, lr=0.02, batch_size=8, early_stopping_patience=4, min_delta=1e-3
    )
    model = _model()
    result = fit_model(model, train, val, settings)
    assert result.stopped_early and len(result.history) < 60
    assert len(result.history) == result.best_epoch + settings.early_stopping_patience
    best = result.history[result.best_epoch - 1]
    assert best["val_loss"] == result.best_val_loss < 0.15
    assert best["train_loss"] < 0.25 and best["val_auc"] == 1.0
    assert result.history[0]["val_loss"] > 2 * result.best_val_loss
    assert _same_weights(model.state_dict(), result.best_state)  # best weights restored
    assert all(v.device.type == "cpu" for v in result.best_state.values())
    assert [h["epoch"] for h in result.history] == list(range(1, len(result.history) + 1))
    assert result.world_size == 1 and result.device == "cpu" and result.resumed_from_epoch is None
    json.dumps(result.to_dict())


def test_plateau_halves_the_learning_rate_after_patience():
    # Validation labels are the opposite of training ones: the validation loss only rises.
    train, val = _datasets(flip_val=True)
    settings = TrainSettings(epochs=40, lr=0.01, batch_size=8)  # lr patience 3, early stopping 8
    model = _model()
    result = fit_model(model, train, val, settings)
    lrs = [h["lr"] for h in result.history]
    assert lrs[:5] == [0.01] * 5  # epoch 1 best, epochs 2-5 bad: more than 3 -> reduce
    assert lrs[5:9] == [0.005] * 4
    assert result.best_epoch == 1 and result.stopped_early and len(result.history) == 9
    assert _same_weights(model.state_dict(), result.best_state)


def test_progress_events():
    train, val = _datasets()
    events = []
    settings = TrainSettings(epochs=3, batch_size=8)
    fit_model(_model(), train, val, settings, progress=events.append)
    n_batches = math.ceil(len(train) / 8)
    batches = [e for e in events if e["event"] == "batch"]
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(batches) == 3 * n_batches and len(epochs) == 3 and len(events) == len(batches) + 3
    assert [e["batch"] for e in batches[:n_batches]] == list(range(1, n_batches + 1))
    for e in events:
        assert {"epoch", "n_epochs", "batch", "n_batches", "loss", "eta_s"} <= e.keys()
        assert e["eta_s"] >= 0 and e["n_epochs"] == 3 and e["n_batches"] == n_batches
    assert {
        "train_loss",
        "val_loss",
        "val_auc",
        "lr",
        "seconds",
        "best_epoch",
        "stopped_early",
    } <= epochs[0].keys()
    assert epochs[-1]["eta_s"] == 0.0
    assert events.index(epochs[0]) == n_batches  # the epoch event follows its batches


def test_max_batches_limits_each_epoch():
    train, val = _datasets()
    events = []
    fit_model(
        _model(),
        train,
        val,
        TrainSettings(epochs=2, batch_size=4, max_train_batches=2),
        progress=events.append,
    )
    assert [e["batch"] for e in events if e["event"] == "batch"] == [1, 2, 1, 2]


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    train, val = _datasets(shift=0.5)
    settings = TrainSettings(epochs=12, lr=0.02, batch_size=8, early_stopping_patience=20)
    reference = _model()
    full = fit_model(reference, train, val, settings)

    def kill_after_epoch_5(event):
        if event["event"] == "epoch" and event["epoch"] == 5:
            raise Stop

    with pytest.raises(Stop):
        fit_model(
            _model(), train, val, settings, checkpoint_dir=tmp_path, progress=kill_after_epoch_5
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-0005.json",
        "epoch-0005.safetensors",
    ]
    torch.manual_seed(99)  # the caller's RNG state and initial weights do not matter
    events = []
    resumed_model = _model(seed=5)
    resumed = fit_model(
        resumed_model, train, val, settings, checkpoint_dir=tmp_path, progress=events.append
    )
    assert events[0] == {"event": "resumed", "epoch": 5, "n_epochs": 12}
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == list(range(6, 13))
    assert resumed.resumed_from_epoch == 5
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert resumed.best_epoch == full.best_epoch
    assert _same_weights(resumed_model.state_dict(), reference.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-0012.json",
        "epoch-0012.safetensors",
    ]

    # A finished run resumes to the same result without training again.
    events.clear()
    again_model = _model(seed=6)
    again = fit_model(
        again_model, train, val, settings, checkpoint_dir=tmp_path, progress=events.append
    )
    assert [e["event"] for e in events] == ["resumed"]
    assert _without_seconds(again.history) == _without_seconds(full.history)
    assert _same_weights(again_model.state_dict(), reference.state_dict())


def test_resume_with_augmented_slices_equals_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(12), 2)
    outcome = {int(p): int(p % 2) for p in range(12)}
    x = rng.normal(size=(24, 3, 12, 12)).astype(np.float32)
    x[:, 1] += np.array([0.7 if outcome[int(i)] else -0.7 for i in ids], dtype=np.float32)[
        :, None, None
    ]
    aug = SliceAugmentation()
    tr = np.flatnonzero(ids < 8)
    va = np.flatnonzero(ids >= 8)

    def data():
        return (
            SliceDataset(x, ids, outcome, indices=tr, augmentation=aug, seed=1),
            SliceDataset(x, ids, outcome, indices=va, augmentation=aug, seed=1),
        )

    def model():
        torch.manual_seed(0)
        return TinySliceNet()

    settings = TrainSettings.for_images(epochs=4, batch_size=4, lr=0.01)
    reference = model()
    full = fit_model(reference, *data(), settings)

    def kill(event):
        if event["event"] == "epoch" and event["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        fit_model(model(), *data(), settings, checkpoint_dir=tmp_path, progress=kill)
    train_ds, val_ds = data()
    resumed_model = model()
    resumed = fit_model(resumed_model, train_ds, val_ds, settings, checkpoint_dir=tmp_path)
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert _same_weights(resumed_model.state_dict(), reference.state_dict())
    assert train_ds.training and val_ds.training  # modes restored after validation


def test_resume_false_starts_over(tmp_path):
    train, val = _datasets()
    settings = TrainSettings(epochs=2, batch_size=8)
    fit_model(_model(), train, val, settings, checkpoint_dir=tmp_path)
    result = fit_model(_model(), train, val, settings, checkpoint_dir=tmp_path, resume=False)
    assert result.resumed_from_epoch is None and [h["epoch"] for h in result.history] == [1, 2]


def test_resume_may_extend_epochs_but_not_change_other_settings(tmp_path):
    train, val = _datasets()
    fit_model(_model(), train, val, TrainSettings(epochs=2, batch_size=8), checkpoint_dir=tmp_path)
    longer = fit_model(
        _model(), train, val, TrainSettings(epochs=3, batch_size=8), checkpoint_dir=tmp_path
    )
    assert longer.resumed_from_epoch == 2 and len(longer.history) == 3
    with pytest.raises(CheckpointError, match=r"other settings \(lr: 0.001 then, 0.01 now\)"):
        fit_model(
            _model(),
            train,
            val,
            TrainSettings(epochs=4, batch_size=8, lr=0.01),
            checkpoint_dir=tmp_path,
        )

    class OtherNet(MeanNet):
        pass

    with pytest.raises(CheckpointError, match="written for a MeanNet, not a OtherNet"):
        fit_model(
            OtherNet(), train, val, TrainSettings(epochs=4, batch_size=8), checkpoint_dir=tmp_path
        )
    with pytest.raises(CheckpointError, match="does not fit this model"):
        fit_model(
            _other_mean_net(),
            train,
            val,
            TrainSettings(epochs=4, batch_size=8),
            checkpoint_dir=tmp_path,
        )


def test_damaged_checkpoint_is_refused_and_temp_files_are_ignored(tmp_path):
    train, val = _datasets()
    settings = TrainSettings(epochs=1, batch_size=8)
    fit_model(_model(), train, val, settings, checkpoint_dir=tmp_path)
    (tmp_path / ".tmp-epoch-0002.safetensors-abc").write_bytes(b"half written")
    assert (
        fit_model(_model(), train, val, settings, checkpoint_dir=tmp_path).resumed_from_epoch == 1
    )
    blob = tmp_path / "epoch-0001.safetensors"
    data = bytearray(blob.read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])
    blob.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the SHA-256"):
        fit_model(_model(), train, val, settings, checkpoint_dir=tmp_path)
    blob.unlink()
    with pytest.raises(CheckpointError, match="which is missing"):
        fit_model(_model(), train, val, settings, checkpoint_dir=tmp_path)


def test_checkpoint_holds_no_pickle(tmp_path):
    train, val = _datasets()
    fit_model(_model(), train, val, TrainSettings(epochs=1, batch_size=8), checkpoint_dir=tmp_path)
    record = json.loads((tmp_path / "epoch-0001.json").read_text())
    assert record["meta"]["settings"]["kind"] == "TrainSettings"
    from safetensors import safe_open

    with safe_open(tmp_path / "epoch-0001.safetensors", framework="pt") as f:
        names = set(f.keys())
    assert {"rng/torch", "rng/numpy", "model/body.0.weight", "best/body.0.weight"} <= names
    assert any(n.startswith("optimizer/") and n.endswith("/exp_avg") for n in names)


def test_bad_inputs_are_refused():
    train, val = _datasets()
    settings = TrainSettings(epochs=1, batch_size=8)
    with pytest.raises(ValueError, match=r"must return logits of shape \(8, 1\)"):
        fit_model(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2)), train, val, settings
        )
    with pytest.raises(TypeError, match="settings must be a TrainSettings, got dict"):
        fit_model(_model(), train, val, {"epochs": 1})
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        fit_model(lambda x: x, train, val, settings)
    with pytest.raises(ValueError, match="val_ds is empty"):
        fit_model(_model(), train, WindowDataset(*make_windows()[:3], indices=[]), settings)
    tensors = torch.utils.data.TensorDataset(torch.zeros(4, 3, 16), torch.zeros(4))
    with pytest.raises(ValueError, match=r"train_ds items must be \(x, y, patient_index\) tuples"):
        fit_model(_model(), tensors, val, settings)
    x, ids, labels = make_windows()
    x[ids == 0] = np.nan
    with pytest.raises(FloatingPointError, match="check the inputs for NaN"):
        fit_model(_model(), WindowDataset(x, ids, labels), val, settings)


@pytest.mark.gpu
def test_mixed_precision_on_cuda():
    train, val = _datasets()
    model = _model()
    result = fit_model(model, train, val, TrainSettings(epochs=2, batch_size=8, device="cuda"))
    assert result.device.startswith("cuda") and next(model.parameters()).is_cuda
    assert all(math.isfinite(h["val_loss"]) for h in result.history)
