"""The dashboard's Streamlit settings that matter for security (.streamlit/config.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def _config() -> dict:
    return tomllib.loads(CONFIG.read_text(encoding="utf-8"))


def test_tracebacks_are_not_shown_to_users():
    """Issue 14, finding 13: exceptions showed their message and traceback in the browser."""
    from streamlit.config import ShowErrorDetailsConfigOptions

    value = _config()["client"]["showErrorDetails"]
    assert value == ShowErrorDetailsConfigOptions.NONE.value == "none"


def test_developer_options_are_hidden_from_the_menu():
    assert _config()["client"]["toolbarMode"] == "viewer"


def test_xsrf_protection_stays_on():
    assert _config().get("server", {}).get("enableXsrfProtection", True) is True
