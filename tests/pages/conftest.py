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

import pytest
from streamlit.testing.v1 import AppTest

from rehab_core.security import ROLES, create_user, get_user
from rehab_core.storage import open_store


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
