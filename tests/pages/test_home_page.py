"""The Overview page and the router (AppTest): every page is routed, the start is obvious."""

from __future__ import annotations

from pathlib import Path

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


def test_every_page_file_is_routed():
    """The router lists each page once it exists; all five exist, so all five are routed."""
    app = (ROOT / "app.py").read_text()
    for page in ("home", "patients", "signals", "prediction", "evaluation"):
        assert (ROOT / "pages" / f"{page}.py").is_file()
        assert f'"pages/{page}.py"' in app
