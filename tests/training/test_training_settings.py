from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from rehab_core.training.augmentation import SliceAugmentation
from rehab_core.training.seeding import derive_seed, preserve_determinism_flags, seed_everything
from rehab_core.training.settings import (
    ExperimentSettings,
    TrainSettings,
    resolve_amp,
    select_device,
)


def test_defaults_follow_the_paper_and_presets_set_batch_size():
    s = TrainSettings()
    assert (s.epochs, s.lr, s.optimizer) == (50, 1e-3, "adam")
    assert (s.lr_factor, s.lr_patience, s.early_stopping_patience) == (0.5, 3, 8)
    assert (s.amp, s.device, s.num_workers) == ("auto", "auto", 0)
    assert TrainSettings.for_signals().batch_size == 32
    assert TrainSettings.for_images().batch_size == 16
    assert TrainSettings.for_images(seed=4, batch_size=8).batch_size == 8


def test_round_trip_and_frozen():
    s = TrainSettings.for_images(seed=3, grad_clip_norm=1.0, max_train_batches=2)
    assert TrainSettings.from_dict(s.to_dict()) == s
    assert TrainSettings.from_json(s.to_json()) == s
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 0.1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"optimizer": "adma"}, ValueError, "optimizer='adma' is not allowed.*Did you mean 'adam'"),
        ({"amp": "fp32"}, ValueError, "amp='fp32' is not allowed"),
        ({"epochs": 0}, ValueError, "epochs=0 must be at least 1"),
        ({"lr": -1.0}, ValueError, "lr=-1.0 must be positive"),
        ({"lr_factor": 1.0}, ValueError, "lr_factor=1.0 must be below 1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be a whole number, got 2.5"),
        (
            {"max_train_batches": 0},
            ValueError,
            "max_train_batches=0 must be at least 1",
        ),
        ({"device": ""}, ValueError, "device='' must be 'auto' or a device name"),
        ({"deterministic": 1}, TypeError, "deterministic must be True or False"),
        ({"grad_clip_norm": 0.0}, ValueError, "grad_clip_norm=0.0 must be positive"),
    ],
)
def test_bad_settings_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrainSettings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_workers": -1}, ValueError, "num_workers=-1 must be at least 0"),
        ({"num_workers": 1.5}, TypeError, "num_workers must be a whole number, got 1.5"),
        ({"deterministic": "yes"}, TypeError, "deterministic must be True or False, got 'yes'"),
    ],
)
def test_experiment_settings_refuse_bad_data_path_settings_when_made(kwargs, error, match):
    # at once, not when the first member's TrainSettings is built after preprocessing
    with pytest.raises(error, match=match):
        ExperimentSettings(**kwargs)


def test_experiment_settings_pass_the_data_path_to_every_member():
    s = ExperimentSettings(num_workers=2, deterministic=True, augmentation=None)
    for kind in ("signal", "image"):
        member = s.member_settings(kind, seed=5)
        assert (member.num_workers, member.deterministic, member.seed) == (2, True, 5)
    assert ExperimentSettings().augmentation == SliceAugmentation()
    assert ExperimentSettings.from_dict(s.to_dict()) == s


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert select_device("auto").type == expected
    with pytest.raises(ValueError, match="device='gpu0' is not a device name"):
        select_device("gpu0")
    with pytest.raises(ValueError, match="device='xla' is not supported"):
        select_device("xla")


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message shown on machines without CUDA"
)
def test_select_device_refuses_missing_cuda():
    with pytest.raises(ValueError, match="device='cuda' but no CUDA GPU is available"):
        select_device("cuda")


def test_resolve_amp_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) is None
    assert resolve_amp("off", cpu) is None
    assert resolve_amp("bf16", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="amp='fp16' needs a CUDA device"):
        resolve_amp("fp16", cpu)


def test_seed_everything_repeats_all_generators():
    with preserve_determinism_flags():
        seed_everything(11)
        first = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
        seed_everything(11)
        again = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
        assert torch.are_deterministic_algorithms_enabled()
    assert first[0] == again[0] and first[1] == again[1]
    torch.testing.assert_close(first[2], again[2], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"seed=-3 must be between 0 and 4294967295"):
        seed_everything(-3)


def test_preserve_determinism_flags_restores():
    before = torch.are_deterministic_algorithms_enabled()
    with preserve_determinism_flags():
        torch.use_deterministic_algorithms(not before)
    assert torch.are_deterministic_algorithms_enabled() == before


def test_derive_seed_is_stable_and_spreads():
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    assert len({derive_seed(0, e, i) for e in range(5) for i in range(20)}) == 100
    assert 0 <= derive_seed(2**31, 7) < 2**63
