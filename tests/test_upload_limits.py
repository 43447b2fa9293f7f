"""The browser's upload limit (.streamlit/config.toml) and the store's limit agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

from rehab_core.storage.config import DEFAULT_MAX_UPLOAD_MB

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_streamlit_upload_limit_matches_the_store_default():
    server = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]
    # Same number in both places (README and config say "raise both together").
    assert server["maxUploadSize"] == DEFAULT_MAX_UPLOAD_MB == 500
    # Streamlit counts MiB (maxUploadSize * 1024 * 1024), the store MB (10^6): the browser
    # lets through anything the store accepts, so an over-long file meets the store's own
    # one-sentence refusal rather than a generic widget error.
    assert server["maxUploadSize"] * 1024 * 1024 >= DEFAULT_MAX_UPLOAD_MB * 1e6
