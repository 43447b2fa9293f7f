"""Fixtures for the browser tests: one ``streamlit run app.py`` and a headless Chromium page.

The server gets a private, temporary ``REHAB_DATA_DIR`` (its own database and
uploads) and is ended with its whole process group when the module's tests
are done, failed or not. Screenshots and the server's log are kept under
``test-artifacts/browser/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit_browser import (
    ARTIFACTS,
    chromium_missing_reason,
    chromium_page,
    remove_tree,
    streamlit_server,
)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The screenshots folder, emptied of a previous run's files."""
    remove_tree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def app_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rehab_data")


@pytest.fixture(scope="module")
def app_url(app_data_dir: Path, artifacts: Path):
    """URL of the dashboard served by ``streamlit run app.py`` on a free local port."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    with streamlit_server(app_data_dir, artifacts / "streamlit.log") as server:
        yield server.url


@pytest.fixture
def page(app_url: str):
    """A fresh headless Chromium page (one browser per test)."""
    from playwright.sync_api import expect

    # assertions wait as long as actions: a 2-core CI machine running other tests can take
    # more than Playwright's default 5 s to rerun a page
    expect.set_options(timeout=60_000)
    with chromium_page() as browser_page:
        browser_page.set_default_timeout(60_000)
        yield browser_page
