"""The typed, versioned bundle manifest: round trip, validation, the schema-1 converter."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

from rehab_core.storage import BundleManifest, ManifestError, load_bundle, read_manifest
from rehab_core.storage.manifest import SCHEMA_VERSION, manifest_from_v1
from rehab_core.storage.weights import manifest_digest

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "shufflenet_lstm"
# The first shipped bundle's manifest (synthetic generator v1), kept as the schema-1 example
# after that bundle was replaced by one in schema 2; its tensors are not kept (17 MB).
SCHEMA1 = Path(__file__).resolve().parent / "data" / "manifest_schema1.json"


@pytest.fixture(scope="module")
def v1():
    """A schema-1 manifest (``manifest_version: 1``) as ``rehab train`` once wrote it."""
    raw = json.loads(SCHEMA1.read_text())
    assert raw["manifest_version"] == 1 and "schema_version" not in raw
    return raw


@pytest.fixture
def v1_bundle(tmp_path, v1):
    """A schema-1 bundle folder: the kept manifest as written, and a tensors file for it.

    The original tensors are not kept, so small ones take their place with ``sha256`` and
    ``manifest_sha256`` written for them, the rest of the manifest unchanged (still schema 1).
    """
    blob = save(_state())
    raw = copy.deepcopy(v1)
    raw["sha256"] = hashlib.sha256(blob).hexdigest()
    raw["files"] = {"model.safetensors": {"bytes": len(blob)}}
    raw["manifest_sha256"] = manifest_digest(raw)
    folder = tmp_path / "shufflenet_lstm"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(blob)
    (folder / "manifest.json").write_text(json.dumps(raw))
    return folder, raw


def _state():
    g = torch.Generator().manual_seed(0)
    return {"signal0.fc.weight": torch.randn(3, 4, generator=g)}


def test_the_kept_schema_1_manifest_is_intact_and_read_through_the_converter(tmp_path, v1):
    assert manifest_digest(v1) == v1["manifest_sha256"]  # the file as written, unedited
    folder = tmp_path / "v1"
    folder.mkdir()
    shutil.copy(SCHEMA1, folder / "manifest.json")
    m = read_manifest(folder)
    assert isinstance(m, BundleManifest) and m.schema_version == SCHEMA_VERSION
    assert m.manifest_sha256 == v1["manifest_sha256"] and m.sha256 == v1["sha256"]
    assert m.trained_on == "synthetic" and m.data.synthetic
    assert m.imagenet_pretrained is False
    assert m.notes == (
        "Schema-1 manifest converted on load: data.trained_on='synthetic' follows from its "
        "data.synthetic=True.",
    )
    assert m.parts.signal.kwargs == v1["parts"]["signal"]["kwargs"]
    assert m.fusion == v1["fusion"] and m.fma_regressor == v1["fma_regressor"]
    assert list(m.data.split.test) == v1["data"]["split"]["test"]
    assert m.metrics.tables == v1["metrics"]["tables"]


def test_a_schema_1_bundle_loads_through_the_converter(v1_bundle):
    folder, raw = v1_bundle
    bundle = load_bundle(folder)  # hash checks on the file as written, then converted
    m = bundle.manifest
    assert isinstance(m, BundleManifest) and m.schema_version == SCHEMA_VERSION
    assert m.manifest_sha256 == raw["manifest_sha256"] and m.sha256 == raw["sha256"]
    assert m.trained_on == "synthetic" and m.data.synthetic
    assert m.fusion == raw["fusion"] and m.metrics.tables == raw["metrics"]["tables"]
    assert torch.equal(bundle.tensors["signal0.fc.weight"], _state()["signal0.fc.weight"])
    assert read_manifest(folder) == m


def test_the_shipped_bundle_is_in_the_current_schema_and_loads_unconverted():
    raw = json.loads((SHIPPED / "manifest.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION and "manifest_version" not in raw
    m = load_bundle(SHIPPED).manifest
    assert m.notes == () and m.to_dict()["data"] == raw["data"]
    assert read_manifest(SHIPPED) == m


def test_round_trip_in_the_current_schema(v1):
    m = BundleManifest.from_dict(v1)
    out = m.to_dict()
    assert out["schema_version"] == SCHEMA_VERSION and "manifest_version" not in out
    assert out["data"]["trained_on"] == "synthetic" and "synthetic" not in out["data"]
    assert out["parts"]["image"]["imagenet_pretrained"] is False
    json.dumps(out, allow_nan=False)
    assert BundleManifest.from_dict(out) == m
    assert dataclasses.replace(m, manifest_sha256=None).to_dict().get("manifest_sha256") is None


def test_a_real_data_schema_1_manifest_is_labelled_real(v1):
    real = copy.deepcopy(v1)
    real["data"]["synthetic"] = False
    m = manifest_from_v1(real)
    assert m.trained_on == "real" and not m.data.synthetic
    assert "data.synthetic=False" in m.notes[0]


def test_schema_1_without_imagenet_flag_is_defaulted_with_a_stated_reason(v1):
    old = copy.deepcopy(v1)
    del old["parts"]["image"]["imagenet_pretrained"]
    m = BundleManifest.from_dict(old)
    assert m.imagenet_pretrained is False
    assert any("False assumed, because parts.image.pretrained_source is None" in n for n in m.notes)
    old["parts"]["image"]["pretrained_source"] = "hf-hub:timm/some_weights"
    assert BundleManifest.from_dict(old).imagenet_pretrained is True


def test_schema_1_without_the_synthetic_flag_is_refused_saying_how_to_fix_it(v1):
    old = copy.deepcopy(v1)
    del old["data"]["synthetic"]
    with pytest.raises(
        ManifestError,
        match=r"^The manifest \(schema 1\) does not say whether it was trained on synthetic or "
        r"real data \(data\.synthetic\); train the bundle again with rehab train\.$",
    ):
        BundleManifest.from_dict(old)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.pop("model_id"), r"^The manifest lacks model_id; it was not written by"),
        (
            lambda d: d["data"].update(trained_on="simulated"),
            r"has data\.trained_on='simulated'; expected 'synthetic' or 'real'\.$",
        ),
        (
            lambda d: d["parts"]["image"].update(n_members=0),
            r"has parts\.image\.n_members=0; expected a whole number of at least 1\.$",
        ),
        (
            lambda d: d["parts"]["image"].update(imagenet_pretrained="no"),
            r"has parts\.image\.imagenet_pretrained='no'; expected true or false\.$",
        ),
        (
            lambda d: d["data"]["split"].update(test=[1, 2]),
            r"has data\.split\.test=\[1, 2\]; expected a list of text\.$",
        ),
        (lambda d: d.update(extra=1), r"has unknown field\(s\) extra; it was not written by"),
        (
            lambda d: d.update(schema_version=3),
            r"has schema version 3, which this package \(schema 2\) cannot read; update",
        ),
        (lambda d: d.update(parts=[]), r"^The manifest has parts=\[\]; expected an object\.$"),
    ],
)
def test_validation_names_the_field_in_one_sentence(v1, change, match):
    current = BundleManifest.from_dict(v1).to_dict()
    change(current)
    with pytest.raises(ManifestError, match=match):
        BundleManifest.from_dict(current)


def test_neither_schema_is_refused():
    with pytest.raises(ManifestError, match=r"has neither schema_version nor manifest_version 1"):
        BundleManifest.from_dict({"model_id": "x"})
    with pytest.raises(ManifestError, match=r"The manifest is list, not an object"):
        BundleManifest.from_dict([])
