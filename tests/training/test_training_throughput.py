"""The step timer shared by the time estimate and the benchmarks."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from rehab_core.training import SliceDataset, WindowDataset
from rehab_core.training.throughput import (
    IMAGE_SHAPE,
    build_timing_model,
    clear_timing_cache,
    input_shape,
    measure_model_steps,
    synthetic_dataset,
    time_data_batches,
    time_data_path,
    time_eval_steps,
    time_training_steps,
)

REPO = Path(__file__).resolve().parents[2]
WINDOW = (3, 6)


def _batch(n=4):
    gen = torch.Generator().manual_seed(0)
    return torch.randn((n, *WINDOW), generator=gen), torch.tensor([0.0, 1.0] * (n // 2))


def test_training_steps_are_timed_and_update_the_weights():
    model = build_timing_model("lstm", WINDOW)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = _batch()
    times = time_training_steps(model, x, y, steps=3, warmup=1, device=torch.device("cpu"))
    assert len(times) == 3 and all(0 < t < 60 for t in times)
    assert model.training
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_eval_steps_leave_the_weights_alone():
    model = build_timing_model("lstm", WINDOW)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, _ = _batch()
    times = time_eval_steps(model, x, steps=2, warmup=0, device=torch.device("cpu"))
    assert len(times) == 2 and all(t > 0 for t in times)
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("timer", [time_training_steps, time_eval_steps])
def test_step_counts_are_checked(timer):
    model = build_timing_model("lstm", WINDOW)
    x, y = _batch()
    extra = (y,) if timer is time_training_steps else ()
    with pytest.raises(ValueError, match="steps=0 must be at least 1 and warmup=1 at least 0"):
        timer(model, x, *extra, steps=0, warmup=1, device=torch.device("cpu"))


def test_input_shapes_and_synthetic_datasets():
    assert input_shape("lstm", WINDOW) == WINDOW
    assert input_shape("resnet50") == IMAGE_SHAPE
    with pytest.raises(ValueError, match=r"window_shape=None must be \(n_chans, n_times\)"):
        input_shape("lstm")
    windows = synthetic_dataset("lstm", 10, window_shape=WINDOW)
    assert isinstance(windows, WindowDataset) and len(windows) == 10
    x, y, p = windows[3]
    assert tuple(x.shape) == WINDOW and float(y) in (0.0, 1.0)
    slices = synthetic_dataset("shufflenet", 4)
    assert isinstance(slices, SliceDataset) and tuple(slices[0][0].shape) == IMAGE_SHAPE
    assert synthetic_dataset("shufflenet", 4, augment=False).augmentation is None
    # a job's smaller slices (ImagingSettings.image_size) are timed at their own size
    assert input_shape("shufflenet", image_size=112) == (3, 112, 112)
    small = synthetic_dataset("shufflenet", 2, image_size=112)
    assert tuple(small[0][0].shape) == (3, 112, 112)
    with pytest.raises(ValueError, match="image_size"):
        input_shape("shufflenet", image_size=0)
    times = time_data_batches(windows, batch_size=4, batches=2)
    assert len(times) == 2 and all(t > 0 for t in times)


def test_measurements_are_kept_per_process():
    clear_timing_cache()
    first = measure_model_steps("lstm", device="cpu", window_shape=WINDOW, steps=1)
    again = measure_model_steps("lstm", device="cpu", window_shape=WINDOW, steps=1)
    assert again is first
    other = measure_model_steps("lstm", device="cpu", window_shape=(3, 7), steps=1)
    assert other is not first and other.input_shape == (3, 7)
    assert first.batch_size == 32 and first.amp == "off" and first.device == "cpu"
    assert first.items_per_s == pytest.approx(32 / first.train_s_per_step)
    d = first.to_dict()
    assert d["input_shape"] == [3, 6] and math.isfinite(d["items_per_s"])
    clear_timing_cache()
    assert measure_model_steps("lstm", device="cpu", window_shape=WINDOW, steps=1) is not first


def test_throughput_bench_runs_end_to_end(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_train_throughput", REPO / "bench" / "bench_train_throughput.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "rows.json"
    args = ["--device", "cpu", "--steps", "1", "--only", "lstm", "--window-shape", "3", "6"]
    assert bench.main([*args, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "load average" in printed and "\nlstm " in printed
    (row,) = json.loads(out.read_text())
    assert row["model"] == "lstm" and row["unit"] == "windows/s"
    assert row["real_items_per_s"] > 0 and row["real_over_bare"] > 0


def test_the_data_path_is_timed_in_its_parts(monkeypatch):
    import numpy as np

    from rehab_core.training import SliceAugmentation

    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 3, 16, 16), dtype=np.float32)
    ds = SliceDataset(x, np.arange(12) % 4, {p: p % 2 for p in range(4)},
                      augmentation=SliceAugmentation())  # fmt: skip
    calls = []
    real = ds.augment_batch
    monkeypatch.setattr(ds, "augment_batch", lambda x, **kw: calls.append(kw) or real(x, **kw))
    parts = time_data_path(ds, batch_size=4, batches=2, device="cpu")
    assert len(parts) == 2 and all(len(p) == 3 and min(p) >= 0 for p in parts)
    assert calls == [{"epoch": 1, "batch": 1}, {"epoch": 1, "batch": 2}]  # on the device, per batch
    assert len(time_data_batches(ds, batch_size=4, batches=2)) == 2


def test_data_path_bench_runs_end_to_end(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_data_path", REPO / "bench" / "bench_data_path.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "data_path.json"
    args = ["--device", "cpu", "--size", "16", "--batches", "2", "--workers", "0"]
    assert bench.main([*args, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "load average" in printed and "slices/s target" in printed
    summary = json.loads(out.read_text())
    (row,) = summary["rows"]
    assert row["workers"] == 0 and row["timed_batches"] == 2
    assert row["read_slices_per_s"] > 0 and row["augment_slices_per_s"] > 0
    assert summary["target_slices_per_s"] == 2000
