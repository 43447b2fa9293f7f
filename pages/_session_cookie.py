"""The session cookie's two HTTP endpoints, served beside Streamlit's own routes by ``app.py``.

Streamlit gives a page script no way to set a cookie, and a cookie set by
JavaScript cannot be HttpOnly (a script injected into the page could read it).
So the server sets it, from a plain Starlette route that ``st.App`` serves
next to Streamlit's (``app.py``, when the server imports it):

``POST <base>/_rehab/session``
    Header ``X-Rehab-Handoff: <token>``, the one-time token the page got at
    sign-in (:func:`rehab_core.security.sessions.start_session`). Answers 204
    with ``Set-Cookie: rehab_session=...; HttpOnly; SameSite=Strict; Path=<base>/;
    Max-Age=<until the session's hard expiry>`` (``Secure`` over HTTPS or with
    ``REHAB_COOKIE_SECURE=1``), or 403 and no cookie.
``POST <base>/_rehab/session/end``
    Header ``X-Rehab-Session: end``. Ends the session the cookie names and
    deletes the cookie. The custom header cannot be sent by another site
    without a CORS preflight this server never grants, and a SameSite=Strict
    cookie is not sent with another site's requests anyway.

The page (``pages/_shared.py``) calls both with ``fetch`` from a few lines of
JavaScript it writes itself (no user text in them). When a process serves
the pages without these routes (AppTest; a server started some other way than
``streamlit run app.py``), :func:`routes_served` is False and the page keeps
the sign-in in the tab only.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from rehab_core.security.sessions import (
    SESSION_COOKIE,
    end_session_by_cookie,
    load_session_secret,
    redeem_handoff,
)
from rehab_core.storage import Store, open_store

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

__all__ = [
    "HANDOFF_HEADER",
    "END_HEADER",
    "base_path",
    "handoff_url",
    "end_url",
    "session_routes",
    "routes_served",
]

HANDOFF_HEADER = "X-Rehab-Handoff"
END_HEADER = "X-Rehab-Session"
_HANDOFF = "_rehab/session"
_END = "_rehab/session/end"

_lock = threading.Lock()
_stores: dict[tuple[str | None, str | None], Store] = {}
_served = False


def base_path() -> str:
    """Streamlit's ``server.baseUrlPath`` as ``/path`` (empty when served at the root)."""
    from streamlit import config

    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def handoff_url() -> str:
    return f"{base_path()}/{_HANDOFF}"


def end_url() -> str:
    return f"{base_path()}/{_END}"


def routes_served() -> bool:
    """Whether this process serves the cookie endpoints (the server imported ``app``)."""
    return _served


def _store() -> Store:
    """The store of the ``REHAB_*`` environment, opened once per process for these routes."""
    key = (os.environ.get("REHAB_DATABASE_URL"), os.environ.get("REHAB_DATA_DIR"))
    with _lock:
        if key not in _stores:
            _stores[key] = open_store()
        return _stores[key]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or os.environ.get("REHAB_COOKIE_SECURE") == "1"


def _cookie_path() -> str:
    return f"{base_path()}/"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


async def _begin(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    token = request.headers.get(HANDOFF_HEADER)

    def redeem() -> tuple[str, float] | None:
        store = _store()
        return redeem_handoff(store, load_session_secret(store.data_dir), token)

    redeemed = await run_in_threadpool(redeem)
    if redeemed is None:
        return _no_store(Response(status_code=403))
    value, expires_at = redeemed
    response = Response(status_code=204)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max(int(expires_at - time.time()), 0),
        path=_cookie_path(),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return _no_store(response)


async def _end(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    if request.headers.get(END_HEADER) != "end":
        return _no_store(Response(status_code=403))
    cookie = request.cookies.get(SESSION_COOKIE)

    def end() -> None:
        store = _store()
        end_session_by_cookie(store, load_session_secret(store.data_dir), cookie, "sign_out")

    if cookie:
        await run_in_threadpool(end)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path=_cookie_path(),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return _no_store(response)


def session_routes() -> list[BaseRoute]:
    """The two routes, for ``st.App(..., routes=session_routes())``; marks them as served."""
    global _served
    from starlette.routing import Route

    routes: list[Any] = [
        Route(handoff_url(), _begin, methods=["POST"]),
        Route(end_url(), _end, methods=["POST"]),
    ]
    _served = True
    return routes
