import json

import pytest
import torch

from rehab_core.storage import (
    WeightsError,
    WeightsIntegrityError,
    list_bundles,
    load_bundle,
    save_bundle,
)


def _state():
    g = torch.Generator().manual_seed(0)
    return {"fc.weight": torch.randn(3, 4, generator=g), "fc.bias": torch.zeros(3)}


def test_round_trip_and_manifest(tmp_path):
    sd = _state()
    save_bundle(tmp_path / "m", {"signal": sd}, {"model_id": "m", "seed": 0})
    bundle = load_bundle(tmp_path / "m")
    assert set(bundle.part("signal")) == set(sd)
    assert torch.equal(bundle.part("signal")["fc.weight"], sd["fc.weight"])
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["model_id"] == "m"
    assert len(manifest["sha256"]) == 64
    assert manifest["created"].endswith("+00:00")
    assert [m["model_id"] for m in list_bundles(tmp_path)] == ["m"]


def test_refuses_tampered_weights(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, {"model_id": "m"})
    file = tmp_path / "m" / "model.safetensors"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match=r"do not match their manifest"):
        load_bundle(tmp_path / "m")


def test_missing_part_and_missing_manifest(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, {"model_id": "m"})
    with pytest.raises(WeightsError, match=r"holds no weights for 'image'"):
        load_bundle(tmp_path / "m").part("image")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match=r"is not a weights bundle"):
        load_bundle(tmp_path / "empty")


def test_no_pickle_is_written(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, {"model_id": "m"})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "manifest.json",
        "model.safetensors",
    ]


def test_refuses_edited_manifest(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, {"model_id": "m", "fusion": {"weight": 0.4}})
    path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["fusion"]["weight"] = 0.9
    path.write_text(json.dumps(manifest))
    with pytest.raises(WeightsIntegrityError, match=r"manifest of m was changed"):
        load_bundle(tmp_path / "m")


def test_nan_in_manifest_is_stored_as_null(tmp_path):
    save_bundle(tmp_path / "m", {"signal": _state()}, {"model_id": "m", "auc": float("nan")})
    assert load_bundle(tmp_path / "m").manifest["auc"] is None
