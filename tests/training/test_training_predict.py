from __future__ import annotations

import numpy as np
import pytest
import torch

from rehab_core.training.datasets import SliceAugmentation, SliceDataset, WindowDataset
from rehab_core.training.predict import predict_patient_scores


class ChannelZeroLogit(torch.nn.Module):
    """Logit = mean of channel 0 (any item shape): probabilities known in closed form."""

    def forward(self, x):
        return x[:, 0].flatten(1).mean(dim=1, keepdim=True)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _windows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 2, 10)).astype(np.float32)
    ids = np.array(["b", "a", "b", "c", "a", "b", "c"])
    return x, ids


def test_patient_score_is_the_mean_item_probability():
    x, ids = _windows()
    scores = predict_patient_scores(ChannelZeroLogit(), x, ids, batch_size=3, device="cpu")
    expected_items = _sigmoid(x[:, 0].mean(axis=1).astype(np.float64))
    np.testing.assert_allclose(scores.item_probabilities, expected_items, rtol=1e-6)
    assert list(scores.scores) == ["a", "b", "c"]
    for patient in "abc":
        assert scores.scores[patient] == pytest.approx(
            expected_items[ids == patient].mean(), rel=1e-6
        )
    assert scores.item_patient_ids.tolist() == ids.tolist()
    assert all(type(k) is str for k in scores.scores)


def test_batch_size_and_dataset_input_do_not_change_the_scores():
    x, ids = _windows()
    model = ChannelZeroLogit()
    one = predict_patient_scores(model, x, ids, batch_size=1, device="cpu")
    many = predict_patient_scores(model, x, ids, batch_size=64, device="cpu")
    ds = WindowDataset(x, ids, {"a": 0, "b": 1, "c": 1})
    from_ds = predict_patient_scores(model, ds, batch_size=2, device="cpu")
    np.testing.assert_allclose(one.item_probabilities, many.item_probabilities, rtol=1e-6)
    # the dataset orders items as given; its patient ids come from the dataset
    np.testing.assert_allclose(from_ds.item_probabilities, one.item_probabilities, rtol=1e-6)
    assert from_ds.scores == pytest.approx(one.scores)


def test_integer_patient_ids_become_python_ints():
    x, _ = _windows()
    scores = predict_patient_scores(
        ChannelZeroLogit(), x, np.array([3, 1, 3, 2, 1, 3, 2]), device="cpu"
    )
    assert list(scores.scores) == [1, 2, 3] and all(type(k) is int for k in scores.scores)


def test_slices_are_scored_without_augmentation_and_modes_are_restored():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 16, 16)).astype(np.float32)
    ids = np.array([0, 0, 1, 1])
    ds = SliceDataset(x, ids, {0: 0, 1: 1}, augmentation=SliceAugmentation(), seed=0)
    model = ChannelZeroLogit().train()
    scores = predict_patient_scores(model, ds, batch_size=3, device="cpu")
    expected = _sigmoid(x[:, 0].reshape(4, -1).mean(axis=1).astype(np.float64))
    np.testing.assert_allclose(scores.item_probabilities, expected, rtol=1e-5)
    assert ds.training and model.training


def test_runs_without_gradients():
    seen = []

    class Spy(ChannelZeroLogit):
        def forward(self, x):
            seen.append(torch.is_inference_mode_enabled())
            return super().forward(x)

    x, ids = _windows()
    predict_patient_scores(Spy(), x, ids, batch_size=4, device="cpu")
    assert seen == [True, True]


@pytest.mark.parametrize(
    ("data", "ids", "kwargs", "error", "match"),
    [
        ("f64", "ok", {}, TypeError, "data must be float32, got float64"),
        ("ok", None, {}, ValueError, "patient_ids is required when data is an array"),
        ("ok", "short", {}, ValueError, r"patient_ids must hold one id per item \(7\)"),
        ("ok", "ok", {"batch_size": 0}, ValueError, "batch_size=0 must be at least 1"),
        ("list", "ok", {}, TypeError, "data must be a float32 numpy array or a Dataset, got int"),
        ("empty", "empty", {}, ValueError, "data holds no items"),
        ("ok", "ok", {"device": "tpu"}, ValueError, "device='tpu' is not a device name"),
    ],
)
def test_bad_inputs_are_refused(data, ids, kwargs, error, match):
    x, good_ids = _windows()
    arrays = {"ok": x, "f64": x.astype(np.float64), "list": 5, "empty": x[:0]}
    id_sets = {"ok": good_ids, "short": good_ids[:3], "empty": good_ids[:0], None: None}
    with pytest.raises(error, match=match):
        predict_patient_scores(
            ChannelZeroLogit(), arrays[data], id_sets[ids], **{"device": "cpu", **kwargs}
        )


def test_two_class_output_is_refused():
    x, ids = _windows()
    with pytest.raises(ValueError, match=r"must return logits of shape \(7, 1\)"):
        predict_patient_scores(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2)), x, ids, device="cpu"
        )
