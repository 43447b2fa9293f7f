import dataclasses
import json
from pathlib import Path

import pytest
import torch

from rehab_core.storage import (
    WeightsError,
    WeightsIntegrityError,
    find_bundles,
    load_bundle,
    read_manifest,
    save_bundle,
)

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "shufflenet_lstm"


def _state():
    g = torch.Generator().manual_seed(0)
    return {"fc.weight": torch.randn(3, 4, generator=g), "fc.bias": torch.zeros(3)}


def _manifest(**changes):
    """A valid manifest (the shipped bundle's, read through the schema) with ``changes``."""
    shipped = read_manifest(SHIPPED)
    return dataclasses.replace(
        shipped, model_id="m", created=None, files={}, sha256=None, manifest_sha256=None, **changes
    )


def test_round_trip_and_manifest(tmp_path):
    sd = _state()
    save_bundle(tmp_path / "m", {"signal": sd}, _manifest())
    bundle = load_bundle(tmp_path / "m")
    assert set(bundle.part("signal")) == set(sd)
    assert torch.equal(bundle.part("signal")["fc.weight"], sd["fc.weight"])
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["model_id"] == "m"
    assert len(manifest["sha256"]) == 64
    assert manifest["created"].endswith("+00:00")
    assert manifest["schema_version"] == 2
    assert bundle.manifest.sha256 == manifest["sha256"]
    assert bundle.manifest.manifest_sha256 == manifest["manifest_sha256"]
    assert find_bundles(tmp_path) == [tmp_path / "m"]
    assert find_bundles(tmp_path / "m") == [tmp_path / "m"]
    assert find_bundles(tmp_path / "nowhere") == []


def test_refuses_tampered_weights(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, _manifest())
    file = tmp_path / "m" / "model.safetensors"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match=r"do not match their manifest"):
        load_bundle(tmp_path / "m")


def test_missing_part_and_missing_manifest(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, _manifest())
    with pytest.raises(WeightsError, match=r"holds no weights for 'image'"):
        load_bundle(tmp_path / "m").part("image")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match=r"is not a weights bundle"):
        load_bundle(tmp_path / "empty")


def test_no_pickle_is_written(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, _manifest())
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "manifest.json",
        "model.safetensors",
    ]


def test_refuses_edited_manifest(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, _manifest(fusion={"weight": 0.4}))
    path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["fusion"]["weight"] = 0.9
    path.write_text(json.dumps(manifest))
    with pytest.raises(WeightsIntegrityError, match=r"manifest of m was changed"):
        load_bundle(tmp_path / "m")


def test_nan_in_manifest_is_stored_as_null(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, _manifest(fusion={"cv_score": float("nan")}))
    assert load_bundle(tmp_path / "m").manifest.fusion["cv_score"] is None


def test_a_manifest_that_breaks_the_schema_is_refused_in_one_sentence(tmp_path):
    """Hashes intact, content wrong: refused with the field named, as a WeightsError."""
    from rehab_core.storage.weights import manifest_digest

    save_bundle(tmp_path / "m", {"signal": _state()}, _manifest())
    path = tmp_path / "m" / "manifest.json"
    raw = json.loads(path.read_text())
    raw["parts"]["signal"]["n_members"] = "three"
    raw["manifest_sha256"] = manifest_digest(raw)
    path.write_text(json.dumps(raw))
    with pytest.raises(
        WeightsError,
        match=r"^The manifest of m has parts\.signal\.n_members='three'; expected a whole number",
    ):
        load_bundle(tmp_path / "m")


def test_save_bundle_takes_a_typed_manifest(tmp_path):
    with pytest.raises(TypeError, match="manifest must be a BundleManifest, got dict"):
        save_bundle(tmp_path / "m", {"signal": _state()}, {"model_id": "m"})


def test_half_precision_copy_halves_the_tensors_and_loads_into_float32_models(tmp_path):
    from rehab_core.storage import half_precision_bundle

    g = torch.Generator().manual_seed(1)
    big = {"w": torch.randn(64, 64, generator=g), "n": torch.tensor(3)}
    src = save_bundle(tmp_path / "full", {"image0": big}, _manifest())
    dst = half_precision_bundle(src, tmp_path / "half")
    full, half = load_bundle(src), load_bundle(dst)
    assert half.tensors["image0.w"].dtype == torch.float16
    assert half.tensors["image0.n"].dtype == big["n"].dtype  # integers untouched
    size = lambda b: (b / "model.safetensors").stat().st_size  # noqa: E731
    assert size(dst) < 0.6 * size(src)
    assert half.manifest.files["model.safetensors"]["floating_dtype"] == "float16"
    assert full.manifest.files["model.safetensors"]["floating_dtype"] == "float32"
    assert "float16" in " ".join(half.manifest.notes)
    model = torch.nn.Linear(64, 64, bias=False)
    model.load_state_dict({"weight": half.part("image0")["w"]})  # cast back on load
    assert model.weight.dtype == torch.float32
    assert torch.allclose(model.weight, big["w"], rtol=1e-3, atol=1e-3)


def test_half_precision_refuses_values_float16_cannot_hold_and_the_same_folder(tmp_path):
    from rehab_core.storage import half_precision_bundle

    src = save_bundle(tmp_path / "full", {"image0": {"w": torch.full((2,), 1e6)}}, _manifest())
    with pytest.raises(WeightsError, match="too large for half precision"):
        half_precision_bundle(src, tmp_path / "half")
    assert not (tmp_path / "half" / "manifest.json").exists()  # nothing stored half-way
    with pytest.raises(WeightsError, match="another folder"):
        half_precision_bundle(src, src)
