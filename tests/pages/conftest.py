"""Fixtures for the page tests: an AppTest session signed in as a given role.

Every page requires sign-in (``app.py`` routes only the sign-in page to a
session without a user, and each page calls ``require_role``), so a page
test signs in first::

    at = signed_in(AppTest.from_file(APP), role="researcher").run()

The account is created (without a password: no Argon2 cost) in the store of
the current ``REHAB_DATA_DIR`` / ``REHAB_DATABASE_URL``, which the test must
have set before calling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from rehab_core.security import ROLES, create_user, get_user
from rehab_core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]


def sign_in_session(at: AppTest, role: str = "clinician", *, username: str | None = None):
    """Create (once) an active ``role`` account and put it in ``at``'s session; returns it."""
    assert role in ROLES, role
    name = username or f"test-{role}"
    store = open_store()
    try:
        user = get_user(store, name) or create_user(store, name, None, role, actor="pytest")
    finally:
        store.close()
    at.session_state["user"] = user
    at.session_state["last_activity"] = time.time()
    return user


@pytest.fixture
def signed_in() -> Callable[..., AppTest]:
    """``signed_in(at, role="clinician", username=None) -> at``, signed in, ready to ``.run()``."""

    def sign(at: AppTest, role: str = "clinician", *, username: str | None = None) -> AppTest:
        sign_in_session(at, role, username=username)
        return at

    return sign


@pytest.fixture
def app_store(tmp_path, monkeypatch):
    """An empty store in a fresh ``REHAB_DATA_DIR``, no store cached by an earlier test.

    The repository root is on ``sys.path`` so pages run from their own file
    import ``pages._shared``.
    """
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    for var in ("REHAB_DATABASE_URL", "REHAB_SESSION_MINUTES"):
        monkeypatch.delenv(var, raising=False)
    st.cache_resource.clear()
    store = open_store(data_dir=tmp_path / "data")
    yield store
    store.close()
    st.cache_resource.clear()


@pytest.fixture
def deferred_downloads(monkeypatch):
    """The callables behind deferred download buttons, by file id (what a click would run)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    captured = {}
    real = MediaFileManager.add_deferred

    def spy(self, data_callable, *args, **kwargs):
        file_id = real(self, data_callable, *args, **kwargs)
        captured[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return captured
