"""The paper's LSTM: architecture, input checks, dropout."""

from __future__ import annotations

import pytest
import torch

from rehab_core.models import LSTMClassifier, create_model


def test_paper_architecture():
    model = create_model("lstm")
    assert [(m.input_size, m.hidden_size, m.num_layers, m.batch_first) for m in model.lstm] == [
        (22, 128, 1, True),
        (128, 64, 1, True),
        (64, 32, 1, True),
    ]
    assert (model.fc.in_features, model.fc.out_features) == (32, 1)
    assert model.drop_rate == 0.0  # the paper reports no dropout
    assert isinstance(model, LSTMClassifier)


def test_features_are_the_last_hidden_state():
    model = create_model("lstm", n_chans=3).eval()
    x = torch.randn(2, 3, 40)
    with torch.no_grad():
        h = x.transpose(1, 2)
        for layer in model.lstm:
            h, (h_n, _) = layer(h)
        torch.testing.assert_close(model.forward_features(x), h_n[0])
        # the state carries the whole window: changing only the first sample changes the output
        short = x[:, :, :5]
        changed = short.clone()
        changed[:, :, 0] += 5.0
        assert not torch.allclose(model(short), model(changed), rtol=0, atol=1e-6)


def test_channel_count_is_checked():
    model = create_model("lstm", n_chans=22)
    with pytest.raises(ValueError, match=r"n_chans=22 but the input has 16 channels"):
        model(torch.randn(1, 16, 100))


def test_n_times_is_checked_when_given():
    model = create_model("lstm", n_chans=4, n_times=100, sfreq=250.0)
    assert model.sfreq == 250.0
    assert model(torch.randn(1, 4, 100)).shape == (1, 1)
    with pytest.raises(ValueError, match=r"n_times=100 but the input has 99 samples per window"):
        model(torch.randn(1, 4, 99))


def test_input_must_be_3d():
    model = create_model("lstm")
    with pytest.raises(
        ValueError, match=r"The input has shape \(22, 100\); expected \(batch, n_chans, n_times\)"
    ):
        model(torch.randn(22, 100))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_chans": 0}, r"n_chans=0 must be at least 1"),
        ({"n_times": 0}, r"n_times=0 must be at least 1"),
        ({"sfreq": -1.0}, r"sfreq=-1.0 must be positive"),
        ({"drop_rate": 1.5}, r"drop_rate=1.5 must lie between 0.0 and 1.0"),
        ({"hidden_sizes": ()}, r"hidden_sizes=\(\) must be a non-empty tuple"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model("lstm", **kwargs)


def test_dropout_is_active_in_training_only():
    model = create_model("lstm", n_chans=4, drop_rate=0.5)
    x = torch.randn(8, 4, 30)
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))  # Monte-Carlo dropout samples differ
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
