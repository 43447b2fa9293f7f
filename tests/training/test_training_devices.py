"""Device listing, job launch plans and the measured training-time estimate."""

from __future__ import annotations

import math
import os
import sys

import pytest
import torch

from rehab_core.training import (
    DeviceInfo,
    estimate_training_seconds,
    format_duration,
    launch_plan,
    list_devices,
)
from rehab_core.training.devices import pin_gpus
from rehab_core.training.throughput import measure_model_steps

GIB = 1024**3
TINY_WINDOW = (4, 8)


def test_list_devices_always_ends_with_the_cpu():
    devices = list_devices()
    cpu = devices[-1]
    assert cpu.kind == "cpu" and cpu.torch_device == "cpu" and cpu.index is None
    assert [d.kind for d in devices].count("cpu") == 1
    assert cpu.n_cores >= 1 and cpu.n_threads == torch.get_num_threads()
    assert 0 < cpu.free_memory_gib <= cpu.memory_gib
    assert cpu.name and "\n" not in cpu.label
    assert cpu.label.startswith(f"CPU: {cpu.name}, {cpu.n_cores} logical cores")
    assert cpu.label.endswith(f"{cpu.memory_gib:.1f} GiB RAM")
    assert cpu.to_dict()["label"] == cpu.label and cpu.to_dict()["kind"] == "cpu"


def test_fake_gpus_are_listed_with_name_memory_and_capability(fake_gpus):
    nvml = fake_gpus(2)
    devices = list_devices()
    assert [d.torch_device for d in devices] == ["cuda:0", "cuda:1", "cpu"]
    gpu = devices[1]
    assert gpu == DeviceInfo(
        kind="cuda",
        torch_device="cuda:1",
        name="Fake GPU 1",
        index=1,
        memory_gib=80.0,
        free_memory_gib=pytest.approx(79.0),  # NVML reads it without a CUDA context
        compute_capability="9.0",
        n_cores=None,  # NVML does not count multiprocessors
        uuid="GPU-fake-1",
        physical_index=1,
    )
    assert gpu.label == "GPU 1: Fake GPU 1, 80.0 GiB (compute 9.0), 79.0 GiB free"
    assert nvml.initialised == nvml.shutdowns == 1


def test_listing_gpus_leaves_cuda_uninitialised(fake_gpus):
    """The Retrain page lists devices on every rerun: no CUDA context in the web server."""
    fake_gpus(2)  # CUDA initialisation raises inside this fixture
    assert not torch.cuda.is_initialized()
    assert len(list_devices()) == 3 and len(launch_plan(1).devices) == 1
    assert not torch.cuda.is_initialized()


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("2,0", [("cuda:0", 2), ("cuda:1", 0)]),
        ("GPU-fake-1", [("cuda:0", 1)]),
        ("1,7,2", [("cuda:0", 1)]),  # CUDA stops at the first unknown entry
        ("-1", []),
        ("", []),
    ],
)
def test_cuda_visible_devices_renumbers_the_gpus(fake_gpus, monkeypatch, visible, expected):
    fake_gpus(3)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    gpus = [d for d in list_devices() if d.kind == "cuda"]
    assert [(d.torch_device, d.physical_index) for d in gpus] == expected
    assert all(d.uuid == f"GPU-fake-{d.physical_index}" for d in gpus)


def test_nvidia_smi_is_read_when_nvml_is_missing(fake_gpus, monkeypatch, tmp_path):
    nvml = fake_gpus(0)

    def broken_init():
        raise nvml.NVMLError("NVML Shared Library Not Found")

    monkeypatch.setattr(nvml, "nvmlInit", broken_init)
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'case "$1" in --query-gpu=index,uuid,name,memory.total,memory.free,compute_cap) ;;'
        " *) exit 9;; esac\n"
        "echo '0, GPU-aaa, NVIDIA H200, 143771, 143000, 9.0'\n"
        "echo '1, GPU-bbb, NVIDIA H200, 143771, [N/A], [N/A]'\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    gpus = [d for d in list_devices() if d.kind == "cuda"]
    assert [(d.torch_device, d.name, d.uuid) for d in gpus] == [
        ("cuda:0", "NVIDIA H200", "GPU-aaa"),
        ("cuda:1", "NVIDIA H200", "GPU-bbb"),
    ]
    assert gpus[0].memory_gib == pytest.approx(143771 / 1024)
    assert gpus[0].free_memory_gib == pytest.approx(143000 / 1024)
    assert gpus[1].free_memory_gib is None and gpus[1].compute_capability is None
    assert not torch.cuda.is_initialized()


def test_without_nvml_or_nvidia_smi_a_machine_without_cuda_lists_no_gpu(
    fake_gpus, monkeypatch, tmp_path
):
    nvml = fake_gpus(4)
    monkeypatch.setattr(nvml, "nvmlInit", lambda: (_ for _ in ()).throw(nvml.NVMLError("x")))
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [d.kind for d in list_devices()] == ["cpu"]


def test_no_gpu_gives_a_plain_cpu_process(fake_gpus):
    fake_gpus(0)
    plan = launch_plan()
    assert (plan.kind, plan.device, plan.n_processes) == ("cpu", "cpu", 1)
    assert not plan.distributed and plan.env == {}
    assert plan.command("-m", "pkg.worker", "--job", "7") == [
        sys.executable,
        "-m",
        "pkg.worker",
        "--job",
        "7",
    ]
    assert plan.label.startswith("the CPU (")


def test_one_gpu_gives_a_plain_process_on_cuda_0(fake_gpus):
    fake_gpus(1)
    plan = launch_plan()
    assert (plan.kind, plan.device, plan.n_processes) == ("cuda", "cuda:0", 1)
    assert plan.command("-m", "pkg.worker") == [sys.executable, "-m", "pkg.worker"]
    assert plan.label == "one GPU (GPU 0: Fake GPU 0, 80.0 GiB (compute 9.0), 79.0 GiB free)"
    assert plan.env == {"CUDA_VISIBLE_DEVICES": "GPU-fake-0"}  # pinned: no context elsewhere


def test_three_gpus_launch_through_torchrun(fake_gpus):
    fake_gpus(3)
    plan = launch_plan()
    assert (plan.kind, plan.device, plan.n_processes) == ("torchrun", "cuda", 3)
    assert plan.distributed
    assert plan.command("-m", "pkg.worker") == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "3",
        "-m",
        "pkg.worker",
    ]
    # every GPU plan pins its processes, even to all GPUs (by UUID: exact whatever the order)
    assert plan.env["CUDA_VISIBLE_DEVICES"] == "GPU-fake-0,GPU-fake-1,GPU-fake-2"
    assert int(plan.env["OMP_NUM_THREADS"]) >= 1
    assert plan.label.startswith("3 GPUs through torchrun (DistributedDataParallel)")
    assert plan.to_dict()["launcher"][2] == "torch.distributed.run"


@pytest.mark.parametrize(
    ("wanted", "kind", "n", "device", "pinned"),
    [
        (0, "cpu", 1, "cpu", None),
        (1, "cuda", 1, "cuda:0", "GPU-fake-0"),
        (2, "torchrun", 2, "cuda", "GPU-fake-0,GPU-fake-1"),
    ],
)
def test_a_number_of_gpus_takes_the_first_ones(fake_gpus, wanted, kind, n, device, pinned):
    fake_gpus(3)
    plan = launch_plan(wanted)
    assert (plan.kind, plan.n_processes, plan.device) == (kind, n, device)
    assert plan.env.get("CUDA_VISIBLE_DEVICES") == pinned


def test_chosen_devices_are_made_the_only_visible_ones(fake_gpus):
    fake_gpus(3)
    devices = list_devices()
    plan = launch_plan([devices[1], devices[2]])
    assert plan.kind == "torchrun" and plan.env["CUDA_VISIBLE_DEVICES"] == "GPU-fake-1,GPU-fake-2"
    single = launch_plan([devices[2]])
    # the job sees GPU 2 alone, as its cuda:0
    assert (single.kind, single.device) == ("cuda", "cuda:0")
    assert single.env["CUDA_VISIBLE_DEVICES"] == "GPU-fake-2"
    assert launch_plan([devices[-1]]).kind == "cpu"


def test_pinning_without_uuid_uses_the_physical_index():
    gpu = DeviceInfo(kind="cuda", torch_device="cuda:0", name="G", index=0, physical_index=3)
    assert pin_gpus([gpu]) == "3"
    bare = DeviceInfo(kind="cuda", torch_device="cuda:1", name="G", index=1)
    assert pin_gpus([gpu, bare]) == "3,1"
    with pytest.raises(ValueError, match="cpu is not a CUDA GPU"):
        pin_gpus([DeviceInfo(kind="cpu", torch_device="cpu", name="x")])


def test_more_gpus_than_present_are_refused(fake_gpus):
    fake_gpus(3)
    with pytest.raises(ValueError, match="gpus=4 but this machine has 3 CUDA GPU"):
        launch_plan(4)
    with pytest.raises(ValueError, match="gpus=-1 must be 0 or more"):
        launch_plan(-1)
    with pytest.raises(TypeError, match="gpus must be None, a number of GPUs or a list"):
        launch_plan("cuda")


def test_a_gpu_of_another_machine_is_refused(fake_gpus):
    fake_gpus(1)
    foreign = DeviceInfo(kind="cuda", torch_device="cuda:5", name="Elsewhere", index=5)
    with pytest.raises(ValueError, match="cuda:5 is not on this machine; it has 1 CUDA GPU"):
        launch_plan([foreign])


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "1 s"),
        (44.6, "45 s"),
        (600, "10 min"),
        (3 * 3600 + 20 * 60, "3 h 20 min"),
        (7200, "2 h"),
        (52 * 3600, "2 d 4 h"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.fixture(scope="module")
def estimate_args():
    """Arguments of a cheap estimate: a tiny LSTM window, ShuffleNet, one timed step."""
    return dict(
        backbones=["shufflenet"],
        n_slices=300,
        n_windows=640,
        window_shape=TINY_WINDOW,
        epochs=2,
        n_folds=3,
        device="cpu",
        measure_steps=1,
    )


def test_estimate_is_positive_finite_and_an_upper_bound(estimate_args):
    est = estimate_training_seconds(**estimate_args)
    assert set(est.per_model_s) == {"lstm", "shufflenet"}
    assert all(math.isfinite(s) and s > 0 for s in est.per_model_s.values())
    assert est.total_s == pytest.approx(sum(est.per_model_s.values()))
    assert est.upper_bound and est.device == "cpu" and est.n_processes == 1
    assert est.timings["lstm"].input_shape == TINY_WINDOW
    assert est.timings["shufflenet"].input_shape == (3, 224, 224)
    assert est.timings["shufflenet"].batch_size == 16 and est.timings["lstm"].batch_size == 32
    assert all(0 < v < math.inf for v in est.items_per_s.values())
    assert "upper bound" in est.assumptions[0] and "early stopping" in est.assumptions[0]
    assert est.label.startswith("at most about ") and est.label.endswith(" on cpu")
    assert est.to_dict()["timings"]["lstm"]["model"] == "lstm"


def test_estimate_scales_with_epochs_and_folds(estimate_args):
    def total(**changes):
        return estimate_training_seconds(**{**estimate_args, **changes}).total_s

    # the timings are kept per process, so these calls reuse one measurement
    one, two, three = (total(epochs=e) for e in (1, 2, 3))
    assert two - one == pytest.approx(three - two) and two > one  # affine: scoring is per fold
    ten_lstm_epochs = estimate_training_seconds(**{**estimate_args, "signal_epochs": 10})
    base = estimate_training_seconds(**estimate_args)
    assert ten_lstm_epochs.per_model_s["lstm"] > 4 * base.per_model_s["lstm"]
    assert ten_lstm_epochs.per_model_s["shufflenet"] == base.per_model_s["shufflenet"]

    # exact batch counts without test and early-stopping shares: 192 windows of 32
    t = measure_model_steps("lstm", device="cpu", window_shape=TINY_WINDOW, steps=1)
    step = t.train_s_per_step + t.data_s_per_batch
    evaluate = t.eval_s_per_step + t.data_s_per_batch
    args = {**estimate_args, "n_slices": 0, "n_windows": 192, "test_fraction": 0.0}
    args["inner_val_fraction"] = 0.0
    for k, fit_batches, score_batches in ((2, 3, 3), (3, 4, 2)):
        for epochs in (1, 5):
            got = estimate_training_seconds(**{**args, "n_folds": k, "epochs": epochs})
            expected = k * (epochs * fit_batches * step + score_batches * evaluate)
            assert got.per_model_s == {"lstm": pytest.approx(expected)}
    # two DDP processes keep the global batch of 32: each reads 16 per step (timed at 16)
    two_gpus = estimate_training_seconds(**{**args, "n_folds": 2, "n_processes": 2})
    half = measure_model_steps(
        "lstm", device="cpu", window_shape=TINY_WINDOW, steps=1, batch_size=16
    )
    step16 = half.train_s_per_step + half.data_s_per_batch
    evaluate16 = half.eval_s_per_step + half.data_s_per_batch
    expected = 2 * (2 * math.ceil(96 / 32) * step16 + math.ceil(96 / 16) * evaluate16)
    assert two_gpus.total_s == pytest.approx(expected)
    assert two_gpus.timings["lstm"].batch_size == 16
    assert "gradient exchange is not counted" in two_gpus.assumptions[-1]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"backbones": ["resnet"]}, "resnet is not an image backbone; choose from fbnet"),
        ({"epochs": 0}, "epochs=0 must be at least 1"),
        ({"n_folds": 1}, "n_folds=1 must be at least 2"),
        ({"n_slices": 0, "n_windows": 0}, "n_slices and n_windows are both 0"),
        ({"test_fraction": 1.0}, "test_fraction=1.0 must be at least 0 and below 1"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"device": "tpu"}, "device="),
    ],
)
def test_estimate_refuses_bad_arguments(estimate_args, changes, message):
    with pytest.raises(ValueError, match=message):
        estimate_training_seconds(**{**estimate_args, **changes})


@pytest.mark.gpu
def test_the_cuda_gpu_is_listed_and_used():
    devices = list_devices()
    gpus = [d for d in devices if d.kind == "cuda"]
    assert len(gpus) == torch.cuda.device_count() >= 1
    assert gpus[0].name == torch.cuda.get_device_name(0)
    assert gpus[0].memory_gib > 1 and gpus[0].compute_capability
    plan = launch_plan(1)
    assert (plan.kind, plan.device) == ("cuda", "cuda:0")
    est = estimate_training_seconds(
        ["shufflenet"],
        n_slices=64,
        n_windows=64,
        window_shape=TINY_WINDOW,
        epochs=1,
        n_folds=2,
        device="cuda:0",
        measure_steps=1,
    )
    assert est.device == "cuda:0" and est.timings["shufflenet"].amp == "float16"
    assert 0 < est.total_s < math.inf


def test_cpu_core_count_honours_the_affinity_mask():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("this platform has no CPU affinity mask")
    assert list_devices()[-1].n_cores == len(os.sched_getaffinity(0))


def _fixed_timing(monkeypatch) -> list[int]:
    """Replace the measurement by fixed figures (1 s a training step, 0.5 s an evaluation).

    Returns the list of batch sizes asked for, one per model timed.
    """
    import rehab_core.training.throughput as throughput

    asked: list[int] = []

    def measure(name, *, device, window_shape=None, batch_size=None, steps=2, image_size=224):
        asked.append(batch_size)
        return throughput.StepTiming(
            model=name,
            device=str(device),
            input_shape=(1,),
            batch_size=batch_size,
            train_s_per_step=1.0,
            eval_s_per_step=0.5,
            data_s_per_batch=0.0,
            steps=steps,
            amp="off",
            threads=1,
        )

    monkeypatch.setattr(throughput, "measure_model_steps", measure)
    return asked


@pytest.mark.parametrize(
    ("n_folds", "fold_gpus", "rounds"),
    [(3, 1, 3), (3, 2, 2), (3, 3, 1), (5, 2, 3), (5, 4, 2), (4, 4, 1), (2, 8, 1)],
)
def test_folds_side_by_side_divide_the_members_time(monkeypatch, n_folds, fold_gpus, rounds):
    _fixed_timing(monkeypatch)
    args = dict(
        backbones=["shufflenet"],
        n_slices=160,
        n_windows=0,
        window_shape=TINY_WINDOW,
        epochs=2,
        n_folds=n_folds,
        device="cpu",
        test_fraction=0.0,
        inner_val_fraction=0.0,
    )
    one_by_one = estimate_training_seconds(**args)
    side_by_side = estimate_training_seconds(**args, fold_gpus=fold_gpus)
    # one member: 2 epochs of ceil(160 (k-1)/k / 16) steps of 1 s, then 160/k scored in 0.5-s
    # batches of 16; the busiest GPU trains ceil(k / N) members one after another
    fit = math.ceil(160 * (n_folds - 1) / n_folds / 16)
    member = 2 * fit * 1.0 + math.ceil(160 / n_folds / 16) * 0.5
    assert one_by_one.total_s == pytest.approx(n_folds * member)
    assert side_by_side.total_s == pytest.approx(rounds * member)
    assert side_by_side.per_model_s == {"shufflenet": pytest.approx(rounds * member)}
    assert side_by_side.fold_gpus == fold_gpus == side_by_side.to_dict()["fold_gpus"]
    if fold_gpus > 1:
        assert side_by_side.label.endswith(f" on {fold_gpus} GPUs, folds side by side")
        stated = side_by_side.assumptions[-1]
        assert stated.startswith(f"The {n_folds} folds train side by side on {fold_gpus} GPUs")
        assert f"busiest GPU trains {rounds} round(s) of members" in stated
        assert "preprocessing before and the evaluation after run once" in stated
    else:
        assert not any("side by side" in a for a in side_by_side.assumptions)


def test_ddp_divides_each_step_and_says_so(monkeypatch):
    asked = _fixed_timing(monkeypatch)
    args = dict(
        backbones=["shufflenet"],
        n_slices=320,
        n_windows=320,
        window_shape=TINY_WINDOW,
        epochs=1,
        n_folds=2,
        device="cpu",
        test_fraction=0.0,
        inner_val_fraction=0.0,
    )
    one = estimate_training_seconds(**args)
    four = estimate_training_seconds(**args, n_processes=4)
    # each of 4 processes reads a quarter of the global batch (32 windows, 16 slices) per step
    assert asked == [32, 16, 8, 4]
    # the same steps (each timed at the smaller batch, here the same 1 s): only scoring,
    # which reads per-process batches, differs
    assert four.label.endswith(" on 4 x cpu") and four.n_processes == 4
    assert "gradient exchange is not counted" in four.assumptions[-1]
    assert four.per_model_s["lstm"] == pytest.approx(2 * (5 * 1.0 + math.ceil(160 / 8) * 0.5))
    assert one.per_model_s["lstm"] == pytest.approx(2 * (5 * 1.0 + math.ceil(160 / 32) * 0.5))


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"n_processes": 2, "fold_gpus": 2}, r"^n_processes=2 and fold_gpus=2: a job trains"),
        ({"fold_gpus": 0}, "fold_gpus=0 must be"),
    ],
)
def test_folds_side_by_side_and_ddp_are_not_combined(monkeypatch, counts, message):
    _fixed_timing(monkeypatch)
    with pytest.raises(ValueError, match=message):
        estimate_training_seconds(
            ["shufflenet"],
            n_slices=16,
            n_windows=0,
            window_shape=TINY_WINDOW,
            epochs=1,
            n_folds=2,
            device="cpu",
            **counts,
        )
