"""Figures of a prediction and of an evaluation (rehab_core.viz.prediction_figures)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from rehab_core.evaluation import calibration_bins, roc_points
from rehab_core.explain import attribution_summary, overlay_heatmap
from rehab_core.viz import (
    attribution_figure,
    calibration_figure,
    gradcam_figure,
    gradcam_overlay,
    png_bytes,
    probability_figure,
    roc_figure,
    slice_probabilities_figure,
    window_timeline_figure,
)
from rehab_core.viz.prediction_figures import BORDERLINE_COLOUR, GOOD_COLOUR, POOR_COLOUR


@pytest.fixture
def prediction():
    return {
        "probability_good": 0.63,
        "interval": [0.55, 0.70],
        "threshold": 0.5,
        "member_probabilities": [0.55, 0.64, 0.70],
    }


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_probability_figure_marks_probability_interval_members_and_threshold(prediction):
    fig = probability_figure(prediction)
    point = _trace(fig, "P(good outcome)")
    assert list(point.x) == [0.63]
    assert point.error_x.array[0] == pytest.approx(0.07)
    assert point.error_x.arrayminus[0] == pytest.approx(0.08)
    assert point.marker.color == GOOD_COLOUR
    assert list(_trace(fig, "ensemble members").x) == [0.55, 0.64, 0.70]
    assert any(s.type == "line" and s.x0 == 0.5 for s in fig.layout.shapes)
    zones = [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"]
    assert zones == [(0.0, 0.5), (0.5, 1.0)]
    assert fig.layout.title.text == "P(good outcome) = 0.63 (model spread 0.55-0.70)"


def test_probability_below_threshold_is_drawn_poor(prediction):
    prediction.update(probability_good=0.3, interval=[0.2, 0.4], threshold=0.35)
    fig = probability_figure(prediction)
    assert _trace(fig, "P(good outcome)").marker.color == POOR_COLOUR
    assert [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"] == [
        (0.0, 0.35),
        (0.35, 1.0),
    ]


def test_a_borderline_probability_is_drawn_in_neither_sides_colour(prediction):
    """Issue 15: P = 0.52 drawn green beside the word 'Borderline' still reads as a good call."""
    prediction.update(probability_good=0.52, interval=[0.51, 0.53])
    fig = probability_figure(prediction, borderline=True)
    assert _trace(fig, "P(good outcome)").marker.color == BORDERLINE_COLOUR
    assert BORDERLINE_COLOUR not in (GOOD_COLOUR, POOR_COLOUR)
    assert fig.layout.title.text == "P(good outcome) = 0.52 (model spread 0.51-0.53): borderline"


def test_window_timeline_places_each_window_at_its_time():
    fig = window_timeline_figure(
        [0.0, 10.0, 30.0], [0.4, 0.6, 0.5], window_s=10.0, threshold=0.5, signal_score=0.5
    )
    bars = fig.data[0]
    np.testing.assert_allclose(bars.x, [5.0, 15.0, 35.0])
    np.testing.assert_allclose(bars.y, [0.4, 0.6, 0.5])
    assert list(bars.marker.color) == [POOR_COLOUR, GOOD_COLOUR, GOOD_COLOUR]
    assert tuple(fig.layout.xaxis.range) == (0.0, 40.0)
    assert "3 windows of 10 s" in fig.layout.title.text
    assert {a.text for a in fig.layout.annotations} >= {"threshold 0.50", "EEG-EMG score 0.50"}


def _line_labels(fig):
    """The annotations that name a horizontal line (not a subplot title)."""
    return [a for a in fig.layout.annotations if a.yref and not a.yref.endswith("paper")]


def _assert_labels_beside_the_plot(fig, lines):
    """Each line's label lies right of the plot area (where no bar is), at the line's height."""
    labels = {a.text: a for a in _line_labels(fig)}
    assert set(labels) == set(lines)
    for text, y in lines.items():
        label = labels[text]
        assert label.xref.endswith(" domain") and label.x >= 1.0 and label.xanchor == "left"
        assert label.y == pytest.approx(y)
    assert fig.layout.margin.r >= 100  # room for the words in the margin


@pytest.mark.parametrize(
    ("score", "score_side"), [(0.51, "bottom"), (0.49, "top"), (0.9, "bottom")]
)
def test_score_and_threshold_labels_sit_beside_the_bars_and_apart(score, score_side):
    """The clinicians found the score and threshold labels hidden under the bars."""
    fig = window_timeline_figure(
        [0.0, 10.0, 20.0], [0.3, 0.95, 0.7], threshold=0.5, signal_score=score
    )
    bars = fig.data[0]
    right_edge = max(np.asarray(bars.x) + np.asarray(bars.width) / 2)
    assert fig.layout.xaxis.range[1] >= right_edge  # every bar is inside the plot area
    _assert_labels_beside_the_plot(
        fig, {"threshold 0.50": 0.5, f"EEG-EMG score {score:.2f}": score}
    )
    sides = {a.text.split(" ")[0]: a.yanchor for a in _line_labels(fig)}
    # the higher line's name above it, the lower's below: never on top of each other
    assert sides == {
        "EEG-EMG": score_side,
        "threshold": {"bottom": "top", "top": "bottom"}[score_side],
    }
    slices = slice_probabilities_figure([3, 4], [0.2, 0.9], threshold=0.4, image_score=0.55)
    _assert_labels_beside_the_plot(slices, {"threshold 0.40": 0.4, "fMRI score 0.55": 0.55})


def test_window_timeline_without_windows_says_image_only():
    fig = window_timeline_figure([], [])
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text.startswith("No EEG-EMG window was scored")


@pytest.mark.parametrize(
    ("figure", "message"),
    [
        (window_timeline_figure, "2 window starts but 3 window probabilities"),
        (slice_probabilities_figure, "2 slice indices but 3 slice probabilities"),
    ],
)
def test_mismatched_lengths_are_refused(figure, message):
    with pytest.raises(ValueError, match=message):
        figure([0, 10], [0.1, 0.2, 0.3])


def test_slice_probabilities_outline_the_selected_slice():
    fig = slice_probabilities_figure(
        [4, 5, 7], [0.2, 0.8, 0.6], threshold=0.5, image_score=0.53, selected=5
    )
    bars = fig.data[0]
    assert list(bars.x) == [4, 5, 7]
    assert list(bars.marker.line.width) == [0, 2.5, 0]
    assert list(bars.marker.color) == [POOR_COLOUR, GOOD_COLOUR, GOOD_COLOUR]
    assert "fMRI score 0.53" in {a.text for a in fig.layout.annotations}


@pytest.fixture
def slice_and_heatmap():
    rng = np.random.default_rng(0)
    slice_image = rng.standard_normal((3, 16, 20)).astype(np.float32)
    heatmap = rng.random((16, 20)).astype(np.float32)
    return slice_image, heatmap


@pytest.mark.parametrize("channel", [0, 2])
def test_gradcam_overlay_blends_over_the_chosen_channel(slice_and_heatmap, channel):
    slice_image, heatmap = slice_and_heatmap
    rgb = gradcam_overlay(slice_image, heatmap, alpha=0.3, channel=channel)
    np.testing.assert_array_equal(
        rgb, overlay_heatmap(slice_image[channel], heatmap, alpha=0.3, cmap="jet")
    )
    grey = gradcam_overlay(slice_image, heatmap, alpha=0.0, channel=channel)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


def test_gradcam_overlay_refuses_a_missing_channel(slice_and_heatmap):
    with pytest.raises(ValueError, match="channel=3 but the slice has 3 channels"):
        gradcam_overlay(*slice_and_heatmap, channel=3)


def test_gradcam_figure_shows_the_overlay_image(slice_and_heatmap):
    fig = gradcam_figure(*slice_and_heatmap, alpha=0.5)
    image = fig.data[0]
    assert image.type == "image"
    np.testing.assert_array_equal(
        np.asarray(image.z), gradcam_overlay(*slice_and_heatmap, alpha=0.5)
    )
    assert fig.layout.title.text == "Grad-CAM over mean BOLD (heatmap weight 50%)"
    assert [a.text for a in fig.layout.annotations] == ["L", "R"]


def test_png_bytes_round_trip(slice_and_heatmap):
    from PIL import Image

    rgb = gradcam_overlay(*slice_and_heatmap)
    data = png_bytes(rgb)
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), rgb)
    with pytest.raises(ValueError, match="Expected an RGB uint8 image"):
        png_bytes(rgb.astype(np.float32))


def test_attribution_figure_shows_shares_per_channel_and_time():
    rng = np.random.default_rng(1)
    attr = rng.standard_normal((2, 3, 100))
    attr[:, 1] *= 5  # channel B carries most of the attribution
    attr[:, 2] = -np.abs(attr[:, 2])  # channel C pushes towards a poor outcome
    summary = attribution_summary(attr, ["A", "B", "C"], sfreq=100.0, n_bins=4)
    fig = attribution_figure(summary)
    heat, bars = fig.data
    np.testing.assert_allclose(heat.z, 100 * summary.per_channel_bin)
    np.testing.assert_allclose(heat.x, [0.125, 0.375, 0.625, 0.875])
    assert list(heat.y) == ["A", "B", "C"]
    np.testing.assert_allclose(bars.x, 100 * summary.per_channel)
    assert np.argmax(bars.x) == 1
    assert bars.marker.color[2] == POOR_COLOUR
    assert np.asarray(heat.z).sum() == pytest.approx(100.0)


def test_attribution_channels_run_in_montage_order_with_muscle_names(leg_muscles):
    """The model's channel order (P4 CP2 FC5 ...) is not one a clinician reads a montage in."""
    from rehab_core.io import PAPER_CHANNELS

    rng = np.random.default_rng(2)
    attr = rng.standard_normal((2, 22, 100))
    attr[:, PAPER_CHANNELS.index("EMG_GMAX")] *= 10  # the gluteus carries the evidence
    summary = attribution_summary(attr, list(PAPER_CHANNELS), sfreq=100.0, n_bins=4)
    heat, bars = attribution_figure(summary).data
    assert list(heat.y)[:6] == ["F3", "F4", "FC5", "FC1", "FC2", "FC6"]
    assert list(heat.y)[-6:] == leg_muscles
    assert list(bars.y) == list(heat.y)
    # the numbers moved with their names
    gmax = list(heat.y).index("gluteus maximus")
    assert np.argmax(bars.x) == gmax
    i = PAPER_CHANNELS.index("F4")
    np.testing.assert_allclose(heat.z[1], 100 * summary.per_channel_bin[i])


@pytest.fixture
def curves():
    rng = np.random.default_rng(3)
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 1])
    p_model = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, y.size), 0.01, 0.99)
    p_bayes = np.clip(0.2 + 0.6 * y + rng.normal(0, 0.1, y.size), 0.01, 0.99)
    model = {
        "name": "ShuffleNet_LSTM",
        "group": "fusion",
        "n": 10,
        "roc": roc_points(y, p_model),
        "calibration": calibration_bins(y, p_model, n_bins=5),
    }
    bayes = {"roc": roc_points(y, p_bayes), "calibration": calibration_bins(y, p_bayes, n_bins=5)}
    return model, bayes


def test_roc_figure_draws_each_model_and_the_ceiling(curves):
    model, bayes = curves
    fig = roc_figure([model], bayes=bayes["roc"])
    names = [t.name for t in fig.data]
    assert names[0] == "chance"
    assert names[1] == f"Bayes-optimal ceiling (AUC {bayes['roc']['auc']:.2f})"
    assert names[2] == f"ShuffleNet_LSTM (AUC {model['roc']['auc']:.2f}, n=10)"
    assert list(fig.data[2].x) == model["roc"]["fpr"]
    assert list(fig.data[2].y) == model["roc"]["tpr"]


def test_many_models_make_the_figure_taller_not_the_plot_smaller(curves):
    """Issue 15: 13 curves' legend below the plot squeezed the ROC square to 150 px."""
    model, bayes = curves
    few = roc_figure([model], bayes=bayes["roc"])
    many = roc_figure([dict(model, name=f"model {i}") for i in range(11)], bayes=bayes["roc"])
    assert few.layout.height == 500
    # one legend row per curve: 13 entries; the plot keeps its ~400 px above them
    assert many.layout.height == 420 + 20 * 13
    cal = calibration_figure(
        [dict(model, name=f"m{i}") for i in range(11)], bayes=bayes["calibration"]
    )
    assert cal.layout.height == 420 + 20 * 7  # two entries a row


def test_calibration_figure_sizes_markers_by_count(curves):
    model, bayes = curves
    fig = calibration_figure([model], bayes=bayes["calibration"])
    names = [t.name for t in fig.data]
    assert names[0] == "perfect calibration"
    assert names[1].startswith("Bayes-optimal (ECE ")
    trace = fig.data[2]
    assert trace.name == f"ShuffleNet_LSTM (ECE {model['calibration']['ece']:.2f})"
    np.testing.assert_allclose(trace.marker.size, 6 + 3 * np.sqrt(model["calibration"]["count"]))
    assert list(trace.y) == model["calibration"]["observed_fraction"]


@pytest.mark.parametrize("figure", [roc_figure, calibration_figure])
def test_fusion_is_drawn_first_so_identical_single_modality_curves_stay_visible(curves, figure):
    model, _ = curves
    image = {**model, "name": "ShuffleNet", "group": "image"}
    fig = figure([image, model])
    names = [t.name.split(" (")[0] for t in fig.data[1:]]
    assert names == ["ShuffleNet_LSTM", "ShuffleNet"]
    fusion, single = fig.data[1:]
    assert (fusion.line.dash, fusion.line.width) == ("solid", 3.0)
    assert (single.line.dash, single.line.width) == ("dash", 2.0)
