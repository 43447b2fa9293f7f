"""The scheduling policy: one pinned GPU per job, DDP only when asked, the global batch kept."""

from __future__ import annotations

import pytest

from rehab_core.training.devices import DeviceInfo
from rehab_core.training.scheduling import schedule_job

CPU = DeviceInfo(kind="cpu", torch_device="cpu", name="test CPU", n_cores=32)


def _machine(*free_gib: float) -> list[DeviceInfo]:
    """GPUs with the given free memory (GiB of 80), then the CPU."""
    return [
        *(
            DeviceInfo(
                kind="cuda",
                torch_device=f"cuda:{i}",
                name="H200",
                index=i,
                memory_gib=80.0,
                free_memory_gib=free,
                uuid=f"GPU-{i}",
                physical_index=i,
            )
            for i, free in enumerate(free_gib)
        ),
        CPU,
    ]


def test_cuda_gets_one_gpu_the_freest_and_pinned():
    s = schedule_job("cuda", devices=_machine(10.0, 79.0, 50.0), n_members=10)
    assert (s.mode, s.world_size, s.launch.kind, s.launch.device) == ("gpu", 1, "cuda", "cuda:0")
    assert s.launch.env == {"CUDA_VISIBLE_DEVICES": "GPU-1"}
    assert s.global_batch == s.per_process_batch == {"signal": 32, "image": 16}
    assert s.lines[0].startswith("One GPU: GPU 1: H200")
    assert "its 10 members train one after another" in s.lines[1]
    assert "other 2 GPU(s) stay free" in s.lines[2] and "'ddp'" in s.lines[2]
    assert "choose 'folds' to train the folds side by side" in s.lines[2]
    assert s.lines[-1].startswith("Learning rate 0.001 as set")
    assert s.to_dict()["launch"]["env"] == {"CUDA_VISIBLE_DEVICES": "GPU-1"}


@pytest.mark.parametrize(
    ("free_gib", "busy", "n_folds", "expected"),
    [
        # several free GPUs and several folds: the folds spread over them, as "folds" does
        ((79.0, 79.0), (), 5, ("folds", [(0, 2, 4), (1, 3)], "GPU-0")),
        ((79.0, 79.0, 79.0, 79.0), (), 5, ("folds", [(0, 4), (1,), (2,), (3,)], "GPU-0")),
        ((79.0, 79.0, 79.0, 79.0), (), 3, ("folds", [(0,), (1,), (2,)], "GPU-0")),
        ((79.0, 79.0, 79.0, 79.0), {"cuda:0", "cuda:2"}, 2, ("folds", [(0,), (1,)], "GPU-1")),
        # one free GPU (or one GPU at all), or the CPU: as before
        ((79.0,), (), 5, ("gpu", [], "GPU-0")),
        ((79.0, 79.0, 79.0, 79.0), {"cuda:0", "cuda:1", "cuda:2"}, 5, ("gpu", [], "GPU-3")),
        ((), (), 5, ("cpu", [], None)),
    ],
)
def test_auto_spreads_the_folds_over_the_free_gpus(free_gib, busy, n_folds, expected):
    s = schedule_job("auto", devices=_machine(*free_gib), busy=busy, n_folds=n_folds)
    mode, folds, pinned = expected
    assert (s.mode, [slot.folds for slot in s.fold_slots]) == (mode, folds)
    assert s.launch.env.get("CUDA_VISIBLE_DEVICES") == pinned
    assert s.world_size == 1 and s.global_batch == s.per_process_batch  # the batch as set
    if mode == "folds":
        pins = [slot.launch.env["CUDA_VISIBLE_DEVICES"] for slot in s.fold_slots]
        free = [f"GPU-{i}" for i in range(len(free_gib)) if f"cuda:{i}" not in busy]
        assert pins == free[: len(folds)]  # one process pinned to each free GPU
        same = schedule_job("folds", devices=_machine(*free_gib), busy=busy, n_folds=n_folds)
        assert s.fold_slots == same.fold_slots and s.lines[0] == same.lines[0]
        assert f"Chosen by 'auto' because {len(free)} GPUs are free; choose 'cuda'" in (
            " ".join(s.lines)
        )
    else:
        assert not any("Chosen by 'auto'" in line for line in s.lines)


def test_gpus_held_by_other_jobs_are_skipped():
    s = schedule_job("cuda", devices=_machine(79.0, 60.0), busy={"cuda:0"})
    assert s.launch.env["CUDA_VISIBLE_DEVICES"] == "GPU-1"
    with pytest.raises(ValueError, match="every one of this machine's 2 GPU"):
        schedule_job("auto", devices=_machine(79.0, 60.0), busy={"cuda:0", "cuda:1"})
    with pytest.raises(ValueError, match="cuda:1 is held by another job"):
        schedule_job("cuda:1", devices=_machine(79.0, 60.0), busy={"cuda:1"})


def test_a_named_gpu_is_pinned_and_seen_as_cuda_0():
    s = schedule_job("cuda:2", devices=_machine(1.0, 1.0, 1.0))
    assert (s.launch.device, s.launch.env["CUDA_VISIBLE_DEVICES"]) == ("cuda:0", "GPU-2")
    with pytest.raises(ValueError, match="device='cuda:5' is not on this machine; it has 3"):
        schedule_job("cuda:5", devices=_machine(1.0, 1.0, 1.0))


def test_without_gpus_the_job_runs_on_the_cpu():
    s = schedule_job("auto", devices=[CPU])
    assert (s.mode, s.launch.kind, s.launch.env) == ("cpu", "cpu", {})
    assert schedule_job("cpu", devices=_machine(79.0)).launch.kind == "cpu"
    with pytest.raises(ValueError, match="device='cuda' but this machine has no CUDA GPU"):
        schedule_job("cuda", devices=[CPU])
    with pytest.raises(ValueError, match="device='mps' but Apple MPS is not available"):
        schedule_job("mps", devices=[CPU])


@pytest.mark.parametrize(
    ("n_gpus", "batches", "world", "per"),
    [
        (2, {"signal": 32, "image": 16}, 2, {"signal": 16, "image": 8}),
        (3, {"signal": 32, "image": 16}, 2, {"signal": 16, "image": 8}),  # 3 divides neither
        (4, {"signal": 32, "image": 16}, 4, {"signal": 8, "image": 4}),
        (8, {"signal": 32, "image": 16}, 8, {"signal": 4, "image": 2}),
        (6, {"signal": 30, "image": 12}, 6, {"signal": 5, "image": 2}),
    ],
)
def test_ddp_only_when_asked_keeps_the_global_batch(n_gpus, batches, world, per):
    s = schedule_job("ddp", devices=_machine(*[70.0] * n_gpus), batch_sizes=batches, lr=3e-4)
    assert (s.mode, s.world_size, s.launch.kind, s.launch.n_processes) == (
        "ddp",
        world,
        "torchrun",
        world,
    )
    assert s.global_batch == batches and s.per_process_batch == per
    assert all(per[k] * world == batches[k] for k in batches)
    assert s.launch.env["CUDA_VISIBLE_DEVICES"] == ",".join(f"GPU-{i}" for i in range(world))
    assert s.lr == 3e-4 and "Learning rate 0.0003 as set" in s.lines[-1]
    assert f"each GPU reads {per['signal']} windows and {per['image']} slices" in s.lines[1]
    if world < n_gpus:
        assert "the most that divides every batch size evenly" in s.lines[2]


def test_ddp_is_refused_when_it_cannot_share_the_batch():
    with pytest.raises(ValueError, match="device='ddp' needs at least two free GPUs, but 1 of"):
        schedule_job("ddp", devices=_machine(70.0, 70.0), busy={"cuda:1"})
    with pytest.raises(ValueError, match=r"\(15 windows and 9 slices\) cannot be split evenly"):
        schedule_job("ddp", devices=_machine(70.0, 70.0), batch_sizes={"signal": 15, "image": 9})


def test_unknown_choices_are_refused():
    with pytest.raises(ValueError, match="device='tpu' is not a job device; choose 'auto'"):
        schedule_job("tpu", devices=[CPU])
    with pytest.raises(ValueError, match=r"batch_sizes\['image'\]=0 must be a whole number"):
        schedule_job("auto", devices=[CPU], batch_sizes={"image": 0})


def test_the_default_reads_the_machine_without_cuda(fake_gpus):
    import torch

    fake_gpus(2)
    s = schedule_job()
    assert s.launch.env["CUDA_VISIBLE_DEVICES"] == "GPU-fake-0" and s.world_size == 1
    assert not torch.cuda.is_initialized()


@pytest.mark.parametrize(
    ("n_folds", "n_devices", "expected"),
    [
        (5, 5, [(0,), (1,), (2,), (3,), (4,)]),  # one fold per device
        (5, 2, [(0, 2, 4), (1, 3)]),  # round-robin when folds > devices
        (3, 8, [(0,), (1,), (2,)]),  # no device without a fold
        (4, 1, [(0, 1, 2, 3)]),
    ],
)
def test_folds_go_round_robin_over_the_devices(n_folds, n_devices, expected):
    from rehab_core.training.scheduling import assign_folds

    groups = assign_folds(n_folds, n_devices)
    assert groups == expected
    assert sorted(f for g in groups for f in g) == list(range(n_folds))  # each fold once
    with pytest.raises(ValueError, match="n_devices=0 must be a whole number of at least 1"):
        assign_folds(n_folds, 0)


def test_folds_spread_over_the_free_gpus_each_pinned_with_the_batch_as_set():
    s = schedule_job(
        "folds",
        devices=_machine(70.0, 10.0, 79.0, 60.0),
        busy={"cuda:3"},
        n_folds=5,
        batch_sizes={"signal": 32, "image": 16},
    )
    assert (s.mode, s.world_size) == ("folds", 1)
    # three free GPUs (0, 1, 2) in index order; fold f on GPU f mod 3
    assert [slot.folds for slot in s.fold_slots] == [(0, 3), (1, 4), (2,)]
    assert [slot.launch.env["CUDA_VISIBLE_DEVICES"] for slot in s.fold_slots] == [
        "GPU-0",
        "GPU-1",
        "GPU-2",
    ]
    assert {slot.launch.device for slot in s.fold_slots} == {"cuda:0"}  # each sees one GPU
    assert s.launch.env == s.fold_slots[0].launch.env  # the main process: the first GPU
    # every fold is a whole model on one GPU: the global batch, unsplit
    assert s.global_batch == s.per_process_batch == {"signal": 32, "image": 16}
    assert s.lines[0] == (
        "The 5 folds side by side on 3 GPU(s), one process pinned to each: GPU 0 trains folds "
        "1, 4; GPU 1 trains folds 2, 5; GPU 2 trains fold 3."
    )
    assert s.to_dict()["fold_slots"][2]["folds"] == [2]


def test_folds_leave_gpus_without_a_fold_free_and_need_one_free_gpu():
    s = schedule_job("folds", devices=_machine(*[80.0] * 4), n_folds=2)
    assert [slot.folds for slot in s.fold_slots] == [(0,), (1,)]
    assert "2 free GPU(s) stay free" in s.lines[2]
    with pytest.raises(ValueError, match="device='folds' needs a free GPU, but none of this"):
        schedule_job("folds", devices=_machine(80.0), busy={"cuda:0"})
    with pytest.raises(ValueError, match="device='folds' needs a free GPU"):
        schedule_job("folds", devices=[CPU])
