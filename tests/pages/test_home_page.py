"""The Overview page and the router (AppTest): every page is routed, the start is obvious."""

from __future__ import annotations

from pathlib import Path

from _page_text import clinician_text
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_overview_is_the_default_page_and_points_to_patients(signed_in, tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    at = signed_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)).run()
    assert not at.exception
    assert at.title[0].value == "Lower-limb recovery after ischaemic stroke"
    assert any("Start on the **Patients** page" in i.value for i in at.info)
    assert any("Not a medical device" in w.value for w in at.warning)
    # method names are for the Technical details expander, not for the clinician's first page
    shown = clinician_text(at.main)
    for word in ("LSTM", "CNN", "ImageNet", "fusion", "cross-validation", "rs-fMRI"):
        assert word not in shown, word
    (details,) = [e for e in at.expander if e.label == "Technical details"]
    assert "an LSTM on 10-s EEG-EMG windows" in details.markdown[0].value


def test_every_page_file_is_routed():
    """The router lists each page once it exists; all five exist, so all five are routed."""
    app = (ROOT / "app.py").read_text()
    for page in ("home", "patients", "signals", "prediction", "evaluation"):
        assert (ROOT / "pages" / f"{page}.py").is_file()
        assert f'"pages/{page}.py"' in app


def test_overview_describes_the_installed_model_from_its_manifest(signed_in, tmp_path, monkeypatch):
    import copy
    import json

    from rehab_core.report import imagenet_phrase, model_card
    from rehab_core.storage import BundleManifest

    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    shipped = json.loads((ROOT / "weights" / "shufflenet_lstm" / "manifest.json").read_text())
    shipped = BundleManifest.from_dict(shipped).to_dict()

    def overview():
        at = signed_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)).run()
        assert not at.exception, at.exception
        return " ".join(m.value for m in at.markdown), [w.value for w in at.warning]

    monkeypatch.delenv("REHAB_WEIGHTS_DIR", raising=False)
    text, warnings = overview()
    assert imagenet_phrase(model_card(shipped)) in text
    assert any(w.startswith("This model was trained on synthetic") for w in warnings)

    real = copy.deepcopy(shipped)  # a real-data bundle without ImageNet weights
    real["data"]["trained_on"] = "real"
    real["parts"]["image"]["imagenet_pretrained"] = False
    folder = tmp_path / "weights" / "shufflenet_lstm"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(real))
    monkeypatch.setenv("REHAB_WEIGHTS_DIR", str(tmp_path / "weights"))
    text, warnings = overview()
    assert "a CNN trained from random starting weights (not ImageNet-pretrained)" in text
    assert "an ImageNet-pretrained CNN" not in text
    assert not any("synthetic (simulated)" in w for w in warnings)
