"""pages/_server_guards.py: who counts as signed in, and the clear-cache handler's role check.

The running-server test is tests/browser/test_server_guards.py.
"""

from __future__ import annotations

import time

import pytest
import streamlit as st

from pages._server_guards import install_server_guards, signed_in_user
from rehab_core.security import create_user


@pytest.fixture
def users(app_store):
    return {
        role: create_user(app_store, f"g.{role}", None, role, actor="pytest")
        for role in ("clinician", "admin")
    }


def test_signed_in_means_a_user_record_and_recent_activity(users):
    now = time.time()
    assert signed_in_user({}, max_idle_s=60) is None
    assert signed_in_user({"user": "forged", "last_activity": now}, max_idle_s=60) is None
    state = {"user": users["clinician"], "last_activity": now - 120}
    assert signed_in_user(state, max_idle_s=60) is None  # idle too long
    state["last_activity"] = now
    assert signed_in_user(state, max_idle_s=60) == users["clinician"]


def test_signed_in_reads_streamlits_own_session_state(users):
    # the server passes streamlit's SessionState, which is no Mapping (it has no ``get``)
    from streamlit.runtime.state.session_state import SessionState

    state = SessionState()
    assert signed_in_user(state, max_idle_s=60) is None
    state["user"] = users["clinician"]
    state["last_activity"] = time.time()
    assert signed_in_user(state, max_idle_s=60) == users["clinician"]
    state["last_activity"] = time.time() - 120
    assert signed_in_user(state, max_idle_s=60) is None


class FakeSession:
    def __init__(self, state: dict) -> None:
        self._session_state = state

    @property
    def session_state(self) -> dict:
        return self._session_state


@pytest.mark.parametrize(("role", "cleared"), [("clinician", False), ("admin", True)])
def test_only_an_administrator_clears_the_shared_caches(users, role, cleared):
    from streamlit.runtime.app_session import AppSession

    install_server_guards()
    calls = []

    @st.cache_data
    def cached(x: int) -> int:
        calls.append(x)
        return x

    st.cache_data.clear()  # nothing left from another test
    cached(1)
    state = {"user": users[role], "last_activity": time.time(), "other": 1}
    AppSession._handle_clear_cache_request(FakeSession(state))
    cached(1)
    assert len(calls) == (2 if cleared else 1)
    assert ("other" in state) is not cleared
