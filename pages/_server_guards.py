"""Checks in Streamlit's server that Streamlit does not make itself; installed by ``app.py``.

Streamlit (1.67) serves two requests for any session that is connected,
signed in to the app or not:

* ``PUT /_stcore/upload_file/<session_id>/<file_id>`` stores the file in
  memory for that session (up to ``server.maxUploadSize``). Not drawing
  uploaders before sign-in does not help: a script that opens a WebSocket
  has a session id, and the XSRF check (``server.enableXsrfProtection``)
  compares a cookie with a header that such a client writes both of. The
  endpoint's only check is ``Runtime.is_active_session(session_id)`` (nothing
  else in Streamlit calls it); it now also requires the session to be signed
  in and not idle for longer than the session limit, and answers 400 otherwise.
* the ``clear_cache`` message (the menu's "Clear cache", the ``c`` key)
  empties ``st.cache_data`` and ``st.cache_resource`` for every user.
  ``client.toolbarMode = "viewer"`` hides the menu item, but any client can
  send the message; ``AppSession._handle_clear_cache_request`` now ignores it
  (with a warning in the log) unless the session's account is an active
  administrator.

Both patch Streamlit internals, once per process. ``tests/browser`` checks
them against a running server, so a Streamlit upgrade that renames either
fails the suite instead of silently reopening the hole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["install_server_guards", "signed_in_user"]

_LOGGER = logging.getLogger("rehab.server_guards")
_lock = threading.Lock()
_installed = False


def signed_in_user(state: Mapping[str, Any], *, max_idle_s: float) -> Any | None:
    """The session's signed-in :class:`~rehab_core.security.UserRecord`, or None.

    ``state`` is a session's state (read from the server's thread, without
    the script's context); a session idle for longer than ``max_idle_s`` counts
    as signed out, as :func:`pages._shared.session_user` would sign it out.
    """
    from pages._shared import ACTIVITY_KEY, USER_KEY
    from rehab_core.security import UserRecord

    # Streamlit's own SessionState (what the server hands over) has ``in`` and ``[]`` but no
    # ``get``: it is no Mapping, and ``get`` raised, so every signed-in upload was refused
    try:
        user = state[USER_KEY] if USER_KEY in state else None
        last = float((state[ACTIVITY_KEY] if ACTIVITY_KEY in state else None) or 0.0)
    except Exception:  # noqa: BLE001 - a state in the middle of a change counts as signed out
        return None
    if not isinstance(user, UserRecord) or user.must_change_password:
        return None
    if time.time() - last > max_idle_s:
        return None
    return user


def _session_state(runtime: Any, session_id: str) -> Mapping[str, Any] | None:
    info = runtime._session_mgr.get_active_session_info(session_id)
    return None if info is None else info.session.session_state


def install_server_guards() -> None:
    """Patch the upload endpoint's session check and the clear-cache handler (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        from streamlit.runtime.app_session import AppSession
        from streamlit.runtime.runtime import Runtime

        from pages._shared import session_minutes

        original_is_active = Runtime.is_active_session
        original_clear = AppSession._handle_clear_cache_request

        def is_active_session(self: Runtime, session_id: str) -> bool:
            if not original_is_active(self, session_id):
                return False
            state = _session_state(self, session_id)
            max_idle_s = session_minutes() * 60
            if state is None or signed_in_user(state, max_idle_s=max_idle_s) is None:
                _LOGGER.warning("Upload refused: the session is not signed in.")
                return False
            return True

        def handle_clear_cache_request(self: AppSession) -> None:
            from rehab_core.security import role_allows

            user = signed_in_user(self.session_state, max_idle_s=session_minutes() * 60)
            if user is None or not role_allows(user.role, "admin"):
                _LOGGER.warning("Clear-cache request refused: only an administrator may.")
                return
            original_clear(self)

        Runtime.is_active_session = is_active_session
        AppSession._handle_clear_cache_request = handle_clear_cache_request
        _installed = True
