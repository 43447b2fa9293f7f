"""The training loop's data path: batch augmentation on the device, few host syncs, background
checkpoints, persistent workers that see the epoch, the determinism switch, out-of-memory."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch
from _windows import make_windows

import rehab_core.training.checkpoint as checkpoint
import rehab_core.training.loop as loop
from rehab_core.training.checkpoint import read_latest_checkpoint
from rehab_core.training.datasets import SliceAugmentation, SliceDataset, WindowDataset
from rehab_core.training.devices import GPUOutOfMemoryError
from rehab_core.training.loop import fit_model
from rehab_core.training.settings import TrainSettings


class TinySliceNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        if self.training:
            self.seen.append(x.detach().clone())
        return self.fc(torch.relu(self.conv(x)).mean(dim=(-2, -1)))


def _slices(n_patients: int = 12, per_patient: int = 4, size: int = 12):
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(n_patients), per_patient)
    outcome = {int(p): int(p % 2) for p in range(n_patients)}
    x = rng.normal(size=(len(ids), 3, size, size)).astype(np.float32)
    x[:, 1] += np.array([0.8 if outcome[int(i)] else -0.8 for i in ids], dtype=np.float32)[
        :, None, None
    ]
    return x, ids, outcome


def _slice_sets(augmentation: SliceAugmentation | None = None, seed: int = 1):
    x, ids, outcome = _slices()
    augmentation = SliceAugmentation() if augmentation is None else augmentation
    train = SliceDataset(
        x, ids, outcome, indices=np.flatnonzero(ids < 8), augmentation=augmentation, seed=seed
    )
    val = SliceDataset(x, ids, outcome, indices=np.flatnonzero(ids >= 8))
    return train, val


def _net(seed: int = 0) -> TinySliceNet:
    torch.manual_seed(seed)
    return TinySliceNet()


def _windows():
    x, ids, labels = make_windows(n_patients=24)
    return (
        WindowDataset(x, ids, labels, indices=np.flatnonzero(ids < 18)),
        WindowDataset(x, ids, labels, indices=np.flatnonzero(ids >= 18)),
    )


class MeanNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.body(x.mean(dim=-1))


def _fit_windows(epochs: int = 3, **kwargs):
    """fit_model of a MeanNet on the windows, batches of 8, with ``kwargs`` (checkpoint_dir...)."""
    train, val = _windows()
    return fit_model(MeanNet(), train, val, TrainSettings(epochs=epochs, batch_size=8), **kwargs)


def test_training_batches_are_augmented_once_each_by_the_dataset(monkeypatch):
    train, val = _slice_sets()
    calls = []
    real = train.augment_batch

    def spy(x, *, epoch, batch, rank=0):
        calls.append((epoch, batch, rank, tuple(x.shape)))
        return real(x, epoch=epoch, batch=batch, rank=rank)

    monkeypatch.setattr(train, "augment_batch", spy)
    read = []  # the DataLoader reads stored slices, a batch at a time, through read_items
    real_read = train.read_items
    monkeypatch.setattr(
        train, "read_items", lambda items: read.append(list(items)) or real_read(items)
    )
    model = _net()
    settings = TrainSettings.for_images(epochs=2, batch_size=8, lr=0.01)
    fit_model(model, train, val, settings)
    assert calls == [(e, b, 0, (8, 3, 12, 12)) for e in (1, 2) for b in (1, 2, 3, 4)]
    assert [len(r) for r in read] == [8] * 8
    assert sorted(sum(read, [])) == sorted(list(range(len(train))) * 2)
    # the model trained on augmented batches, never on the stored slices
    stored = {tuple(t.flatten().tolist()) for t in torch.from_numpy(train.data[train.indices])}
    assert all(tuple(s.flatten().tolist()) not in stored for b in model.seen for s in b)
    assert train.training  # modes untouched


def test_an_augmented_fit_repeats_exactly_and_the_seed_changes_it():
    def run(seed):
        model = _net()
        fit_model(model, *_slice_sets(seed=seed), TrainSettings.for_images(epochs=2, batch_size=8))
        return model

    a, b, c = run(1), run(1), run(2)
    assert all(torch.equal(x, y) for x, y in zip(a.seen, b.seen, strict=True))
    assert not torch.equal(a.seen[0], c.seen[0])
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


@pytest.mark.slow
def test_workers_change_nothing_and_see_each_epoch():
    """Persistent workers read raw slices; the per-batch augmentation is the same as without."""
    results = []
    for workers in (0, 2):
        model = _net()
        r = fit_model(
            model,
            *_slice_sets(),
            TrainSettings.for_images(epochs=2, batch_size=8, num_workers=workers),
        )
        results.append(([h["val_loss"] for h in r.history], model.seen))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(x, y) for x, y in zip(results[0][1], results[1][1], strict=True))

    class EpochItems(torch.utils.data.Dataset):
        """Items that carry the epoch their dataset copy was told (per-item augmentation)."""

        def __init__(self):
            self.epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return 8

        def __getitem__(self, i):
            return (
                torch.full((3, 2), float(self.epoch)),
                torch.tensor(float(i % 2)),
                torch.tensor(i),
            )

    seen = []

    class Record(MeanNet):
        def forward(self, x):
            if self.training:
                seen.append(sorted(set(x[:, 0, 0].tolist())))
            return super().forward(x)

    fit_model(
        Record(), EpochItems(), EpochItems(), TrainSettings(epochs=3, batch_size=4, num_workers=2)
    )
    assert seen == [[1.0], [1.0], [2.0], [2.0], [3.0], [3.0]]  # persistent workers, new epochs


def test_the_inner_loop_waits_for_the_device_only_when_reporting(monkeypatch):
    fetches = []
    real = loop._fetch
    monkeypatch.setattr(loop, "_fetch", lambda t: fetches.append(t.numel()) or real(t))
    train, val = _windows()
    events = []
    settings = TrainSettings(epochs=2, batch_size=4)  # 18 batches per epoch
    fit_model(MeanNet(), train, val, settings, progress=events.append, progress_interval_s=3600)
    n_batches = math.ceil(len(train) / 4)
    batches = [e for e in events if e["event"] == "batch"]
    assert n_batches == 18 and [e["batch"] for e in batches] == [1, n_batches] * 2
    # per epoch: the first and last batch's report, the epoch's totals, one validation pass
    assert len(fetches) == 2 * 4
    epochs = [e for e in events if e["event"] == "epoch"]
    # the last report's loss is the mean over batches 2..n; with batch 1 it makes the epoch's
    first, last = batches[0]["loss"], batches[1]["loss"]
    n_items = len(train)
    assert (first * 4 + last * (n_items - 4)) / n_items == pytest.approx(epochs[0]["train_loss"])

    fetches.clear()
    fit_model(MeanNet(), train, val, settings, progress=events.append)  # CPU default: every batch
    assert len(fetches) == 2 * (n_batches + 2)


def test_a_nan_between_reports_is_caught_with_its_batch(monkeypatch):
    x, ids, labels = make_windows(n_patients=24)
    train = WindowDataset(x, ids, labels, indices=np.flatnonzero(ids < 18))
    val = WindowDataset(x, ids, labels, indices=np.flatnonzero(ids >= 18))
    calls = {"n": 0}

    class NanAtThird(MeanNet):
        def forward(self, x):
            calls["n"] += self.training
            out = super().forward(x)
            return out * float("nan") if self.training and calls["n"] == 3 else out

    with pytest.raises(
        FloatingPointError, match=r"the training loss became nan at epoch 1, batch 3; lower lr"
    ):
        fit_model(
            NanAtThird(),
            train,
            val,
            TrainSettings(epochs=1, batch_size=4),
            progress_interval_s=3600,
        )
    assert calls["n"] == math.ceil(len(train) / 4)  # noticed at the next report: the epoch's end


def test_checkpoints_are_written_in_the_background_and_hashed(tmp_path, monkeypatch):
    threads, finished = [], []
    real = checkpoint._write_files

    def slow_write(folder, epoch, *args):
        threads.append(threading.current_thread().name)
        time.sleep(0.3)
        path = real(folder, epoch, *args)
        finished.append((epoch, time.perf_counter()))
        return path

    monkeypatch.setattr(checkpoint, "_write_files", slow_write)
    steps = []  # (epoch, time) of every training forward pass

    class Timed(MeanNet):
        def forward(self, x):
            if self.training:
                steps.append(time.perf_counter())
            return super().forward(x)

    on_disk = []

    def on_event(e):
        if e["event"] == "epoch":  # reported only once its checkpoint is complete
            on_disk.append((e["epoch"], read_latest_checkpoint(tmp_path).epoch))

    train, val = _windows()
    settings = TrainSettings(epochs=3, batch_size=8)
    fit_model(Timed(), train, val, settings, checkpoint_dir=tmp_path, progress=on_event)
    assert threads == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    assert threading.current_thread().name not in threads
    # epoch 2 trained while epoch 1's checkpoint was still being written
    n_batches = math.ceil(len(train) / 8)
    first_of_epoch2 = steps[n_batches]
    assert first_of_epoch2 < dict(finished)[1]
    assert on_disk == [(1, 1), (2, 2), (3, 3)]
    # all written and complete when fit_model returns: the hash is checked on reading
    ckpt = read_latest_checkpoint(tmp_path)
    assert ckpt.epoch == 3 and [h["epoch"] for h in ckpt.meta["history"]] == [1, 2, 3]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["epoch-0003.json", "epoch-0003.safetensors"]


def test_a_failed_background_write_ends_training_with_its_error(tmp_path, monkeypatch):
    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write_files", broken)
    with pytest.raises(OSError, match="disk full"):
        _fit_windows(epochs=2, checkpoint_dir=tmp_path)


def test_a_progress_error_waits_for_the_checkpoint_in_flight(tmp_path, monkeypatch):
    real = checkpoint._write_files

    def slow_write(*args):
        time.sleep(0.3)
        return real(*args)

    monkeypatch.setattr(checkpoint, "_write_files", slow_write)

    class Stop(Exception):
        pass

    def stop_after_first_epoch(e):
        if e["event"] == "epoch":
            raise Stop

    with pytest.raises(Stop):
        _fit_windows(checkpoint_dir=tmp_path, progress=stop_after_first_epoch)
    assert read_latest_checkpoint(tmp_path).epoch == 1


@pytest.mark.parametrize("deterministic", [False, True])
def test_the_determinism_switch_sets_its_flags_for_the_run_only(monkeypatch, deterministic):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.backends.cudnn.benchmark, torch.are_deterministic_algorithms_enabled())
    during = []

    def look(e):
        import os

        during.append(
            (
                torch.backends.cudnn.benchmark,
                torch.backends.cudnn.deterministic,
                torch.are_deterministic_algorithms_enabled(),
                os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
            )
        )

    train, val = _windows()
    fit_model(
        MeanNet(),
        train,
        val,
        TrainSettings(epochs=1, batch_size=8, deterministic=deterministic),
        progress=look,
    )
    if deterministic:
        assert set(during) == {(False, True, True, ":4096:8")}
    else:  # off (the default): cuDNN autotunes, non-deterministic kernels allowed
        assert set(during) == {(True, False, False, None)}
    assert (torch.backends.cudnn.benchmark, torch.are_deterministic_algorithms_enabled()) == before
    import os

    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert TrainSettings().deterministic is False


@pytest.mark.parametrize(("visible", "gpu"), [(None, 0), ("3", 3), ("2,5", 2)])
def test_out_of_memory_ends_with_one_sentence(monkeypatch, visible, gpu):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)

    class Greedy(MeanNet):
        def forward(self, x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    train, val = _windows()
    with pytest.raises(GPUOutOfMemoryError) as info:
        fit_model(Greedy(), train, val, TrainSettings(epochs=1, batch_size=8))
    assert str(info.value) == f"out of GPU memory on GPU {gpu}: try a smaller batch or one GPU"


def test_the_global_batch_must_split_evenly_over_the_processes():
    assert loop._per_rank_batch(16, 2) == 8 and loop._per_rank_batch(16, 1) == 16
    with pytest.raises(ValueError, match="batch_size=16 cannot be split evenly over 3 processes"):
        loop._per_rank_batch(16, 3)


def test_progress_interval_is_checked():
    train, val = _windows()
    with pytest.raises(ValueError, match="progress_interval_s=-1 must be 0 or more"):
        fit_model(MeanNet(), train, val, TrainSettings(epochs=1), progress_interval_s=-1)


@pytest.mark.gpu
def test_a_fit_on_cuda_augments_on_the_gpu_and_pins_the_device():
    train, val = _slice_sets()
    model = _net()
    result = fit_model(
        model, train, val, TrainSettings.for_images(epochs=2, batch_size=8, device="cuda")
    )
    assert result.device == f"cuda:{torch.cuda.current_device()}"
    assert all(s.is_cuda for s in model.seen)


def test_the_bundle_manifest_records_the_augmentation(tiny_training):
    from rehab_core.storage import load_bundle
    from rehab_core.training import ExperimentSettings

    m = load_bundle(tiny_training["out"] / "shufflenet_lstm").manifest
    recorded = m.training.settings
    assert recorded["augmentation"] == {
        k: v for k, v in SliceAugmentation().to_dict().items() if k != "kind"
    }
    assert recorded["num_workers"] == 0 and recorded["deterministic"] is False
    again = ExperimentSettings.from_dict(recorded)  # the manifest reproduces the settings
    assert again.augmentation == SliceAugmentation() and again.to_dict() == recorded
    with pytest.raises(
        TypeError, match="augmentation must be a SliceAugmentation or None, got str"
    ):
        ExperimentSettings(augmentation="strong")
