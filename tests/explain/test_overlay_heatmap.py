"""The heatmap overlay: a pure numpy function."""

from __future__ import annotations

import numpy as np
import pytest

from rehab_core.explain import overlay_heatmap


@pytest.fixture
def image():
    return np.random.default_rng(0).normal(size=(12, 10))


def test_shape_dtype_and_input_untouched(image):
    heat = np.linspace(0, 1, 120).reshape(12, 10)
    before = image.copy()
    rgb = overlay_heatmap(image, heat)
    assert rgb.shape == (12, 10, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(image, before)


def test_alpha_zero_gives_the_image(image):
    rgb = overlay_heatmap(image, np.ones_like(image), alpha=0.0)
    grey = np.rint(255 * (image - image.min()) / (image.max() - image.min())).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], grey)


def test_alpha_one_gives_the_colormap(image):
    import matplotlib

    rgb = overlay_heatmap(image, np.ones_like(image), alpha=1.0, cmap="jet")
    top = np.rint(np.asarray(matplotlib.colormaps["jet"](1.0)[:3]) * 255).astype(np.uint8)
    assert (rgb == top).all()
    cold = overlay_heatmap(image, np.zeros_like(image), alpha=1.0, cmap="inferno")
    bottom = np.rint(np.asarray(matplotlib.colormaps["inferno"](0.0)[:3]) * 255).astype(np.uint8)
    assert (cold == bottom).all()


def test_constant_image_is_black():
    rgb = overlay_heatmap(np.full((4, 4), 3.0), np.zeros((4, 4)), alpha=0.0)
    assert (rgb == 0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"heatmap": np.zeros((5, 5))},
            ValueError,
            r"heatmap has shape \(5, 5\) but image_2d has \(12, 10\)",
        ),
        (
            {"heatmap": np.full((12, 10), 1.5)},
            ValueError,
            r"heatmap values span \[1\.5, 1\.5\]; scale them to \[0, 1\]",
        ),
        (
            {"heatmap": np.zeros((12, 10), dtype=int)},
            TypeError,
            "heatmap must hold floating-point values",
        ),
        (
            {"image_2d": np.zeros((12, 10, 3))},
            ValueError,
            r"image_2d has shape \(12, 10, 3\); expected a 2D",
        ),
        (
            {"image_2d": np.full((12, 10), np.nan)},
            ValueError,
            "image_2d contains NaN or infinite values",
        ),
        ({"alpha": 1.2}, ValueError, r"alpha=1\.2 must lie between 0\.0 and 1\.0"),
        ({"cmap": "jett"}, ValueError, r"cmap='jett' is not allowed; .*Did you mean 'jet'\?"),
    ],
)
def test_bad_inputs_are_refused(image, kwargs, error, message):
    arguments = {"image_2d": image, "heatmap": np.zeros_like(image), **kwargs}
    image_2d, heatmap = arguments.pop("image_2d"), arguments.pop("heatmap")
    with pytest.raises(error, match=message):
        overlay_heatmap(image_2d, heatmap, **arguments)


def test_import_loads_neither_torch_nor_matplotlib():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, rehab_core.explain; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False False"
