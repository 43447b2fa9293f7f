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


def test_the_menu_is_hidden():
    """Issue 15: no Deploy button or developer options (what "viewer" did), and no menu at all."""
    assert _config()["client"]["toolbarMode"] == "minimal"


def test_no_usage_statistics_are_sent():
    """Issue 15: Streamlit sends usage statistics unless told not to; a hospital opts in."""
    from streamlit.config import _config_options_template

    assert _config_options_template["browser.gatherUsageStats"].default_val is True
    assert _config()["browser"]["gatherUsageStats"] is False


def test_xsrf_protection_stays_on():
    assert _config().get("server", {}).get("enableXsrfProtection", True) is True
