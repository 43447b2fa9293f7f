"""Browser sessions that survive a reload and a new tab: signed cookies over revocable records.

A Streamlit session lives as long as its WebSocket: a reload or a new tab
starts a new one, signed out. This module keeps the sign-in in the browser
instead, without trusting the browser with anything but a random name:

1. At sign-in :func:`start_session` writes a ``web_sessions`` row and returns
   a one-time hand-over token (valid :data:`HANDOFF_SECONDS`, single use).
2. The page hands that token to the server's cookie endpoint
   (``pages/_session_cookie.py``), which calls :func:`redeem_handoff`: the row
   gets a fresh random session id and the browser an HttpOnly,
   SameSite=Strict cookie holding ``<id>.<expiry>.<HMAC>``
   (:func:`sign_cookie`), signed with a server secret kept 0600 in the data
   folder (:func:`load_session_secret`). Page scripts never see the value.
3. A new Streamlit session (reload, new tab) reads the cookie from its
   WebSocket request and calls :func:`resume_session`.

Rules
-----
* Only SHA-256 hashes of the session id and the hand-over token are stored:
  a copy of the database does not give anyone a cookie, and a cookie that
  was not signed with the secret is refused before the database is asked.
* A session ends (and every browser holding its cookie is signed out) at
  sign-out (:func:`end_session`), after idle time longer than the caller's
  limit (``max_idle_s``, checked against the last use
  by *any* tab of that browser), at :data:`MAX_SESSION_HOURS` after sign-in
  whatever the activity, when the account is deactivated, and when its
  password is set or reset (both in :mod:`~rehab_core.security.accounts`).
* The role is never stored here: every check returns the account as the
  database has it now, so a role change applies at the next click.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rehab_core._files import FILE_MODE
from rehab_core.security.accounts import UserRecord, _record
from rehab_core.security.audit import record_event
from rehab_core.storage.db import User, WebSession

if TYPE_CHECKING:
    from rehab_core.storage import Store

__all__ = [
    "SESSION_COOKIE",
    "HANDOFF_SECONDS",
    "MAX_SESSION_HOURS",
    "SECRET_FILE",
    "SessionCheck",
    "load_session_secret",
    "sign_cookie",
    "start_session",
    "redeem_handoff",
    "resume_session",
    "check_session",
    "end_session",
    "end_session_by_cookie",
]

SESSION_COOKIE = "rehab_session"
"""Name of the session cookie."""
HANDOFF_SECONDS = 60.0
"""Seconds the one-time hand-over token of a new sign-in stays valid."""
MAX_SESSION_HOURS = 12.0
"""Hours after sign-in that a session ends, however active (one clinical shift)."""
SECRET_FILE = "session_secret"
"""File, in the data folder, holding the 32-byte key that signs cookies (mode 0600)."""
_TOUCH_EVERY_S = 10.0  # last use is written at most this often per session (a write per click)
_SECRET_BYTES = 32

_secret_lock = threading.Lock()
_secrets: dict[Path, bytes] = {}


@dataclass(frozen=True)
class SessionCheck:
    """What a session check found.

    Attributes
    ----------
    status : str
        ``"ok"`` (``user`` is signed in), ``"expired"`` (idle too long or past
        :data:`MAX_SESSION_HOURS`), ``"ended"`` (signed out or revoked;
        ``reason`` says why) or ``"invalid"`` (no such session, a cookie not
        signed by this server, or a malformed one).
    session_id : int | None
        The ``web_sessions`` row, when one was found.
    user : UserRecord | None
        The account as the database has it now, when ``status`` is ``"ok"``.
    reason : str | None
        Why the session ended (``sign_out``, ``idle``, ``deactivated``,
        ``password``...), when it did.
    has_cookie : bool
        Whether the browser was handed its cookie (:func:`redeem_handoff`).
    """

    status: str
    session_id: int | None = None
    user: UserRecord | None = None
    reason: str | None = None
    has_cookie: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _at(ts: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC)


def load_session_secret(data_dir: str | os.PathLike[str]) -> bytes:
    """The key that signs session cookies, created (0600, 32 random bytes) on first use.

    Kept in the data folder so that it survives a restart (cookies stay
    valid) and moves with the database. Deleting the file signs every browser
    out at the next restart.

    Raises
    ------
    ValueError
        The file exists but is shorter than 32 bytes, or is readable by other
        users (its mode lets group or others read it).
    """
    path = Path(data_dir).resolve() / SECRET_FILE
    with _secret_lock:
        if path in _secrets:
            return _secrets[path]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise ValueError(
                    f"{path} is readable by other users (mode {mode:o}); "
                    f"make it private with chmod 600."
                ) from None
            key = path.read_bytes()
            if len(key) < _SECRET_BYTES:
                raise ValueError(
                    f"{path} holds {len(key)} bytes, fewer than {_SECRET_BYTES}; delete it and "
                    "restart the dashboard to make a new one (every browser signs in again)."
                ) from None
        else:
            key = secrets.token_bytes(_SECRET_BYTES)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
                handle.flush()
                os.fsync(handle.fileno())
        _secrets[path] = key
        return key


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_cookie(secret: bytes, session_token: str, expires_at: float) -> str:
    """The cookie value ``<session token>.<expiry, epoch s>.<HMAC-SHA256>`` (URL-safe)."""
    payload = f"{session_token}.{int(expires_at)}"
    return f"{payload}.{_signature(secret, payload)}"


def _verified_token(secret: bytes, cookie: object, now: float) -> str | None:
    """The session token of a cookie signed with ``secret`` and not past its expiry, else None."""
    if not isinstance(cookie, str) or len(cookie) > 256:
        return None
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    token, expiry, signature = parts
    if not hmac.compare_digest(_signature(secret, f"{token}.{expiry}"), signature):
        return None
    if int(expiry) <= now:
        return None
    return token


def start_session(store: Store, user: UserRecord, *, now: float | None = None) -> tuple[int, str]:
    """Open a session for ``user``, who just signed in; returns its id and the hand-over token.

    The token is valid :data:`HANDOFF_SECONDS`, once (:func:`redeem_handoff`).
    """
    now = time.time() if now is None else now
    handoff = secrets.token_urlsafe(32)
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = WebSession(
            user_id=user.id,
            handoff_hash=_hash(handoff),
            handoff_expires_at=_at(now + HANDOFF_SECONDS),
            created_at=_at(now),
            last_seen_at=_at(now),
            expires_at=_at(now + MAX_SESSION_HOURS * 3600),
        )
        session.add(row)
        session.flush()
        session_id = row.id
    return session_id, handoff


def redeem_handoff(
    store: Store, secret: bytes, handoff: object, *, now: float | None = None
) -> tuple[str, float] | None:
    """Spend a hand-over token: the signed cookie value and its expiry (epoch s), or None.

    None when the token is unknown, already spent, older than
    :data:`HANDOFF_SECONDS` or its session ended. Two requests with one token
    cannot both succeed (a conditional update).
    """
    now = time.time() if now is None else now
    if not isinstance(handoff, str) or not handoff or len(handoff) > 128:
        return None
    token = secrets.token_urlsafe(32)
    with Session(store.engine) as session, session.begin():
        result = session.execute(
            update(WebSession)
            .where(
                WebSession.handoff_hash == _hash(handoff),
                WebSession.handoff_expires_at > _at(now),
                WebSession.ended_at.is_(None),
            )
            .values(token_hash=_hash(token), handoff_hash=None, handoff_expires_at=None)
            .returning(WebSession.expires_at)
        )
        expires = result.scalar_one_or_none()
    if expires is None:
        return None
    return sign_cookie(secret, token, expires.timestamp()), expires.timestamp()


def _end(session: Session, row: WebSession, reason: str, now: float) -> None:
    row.ended_at = _at(now)
    row.end_reason = reason[:32]
    row.handoff_hash = None  # the hash of the cookie stays: a stale cookie finds why it ended


def _check_row(
    row: WebSession | None, session: Session, *, max_idle_s: float, touch: bool, now: float
) -> SessionCheck:
    if row is None:
        return SessionCheck("invalid")
    if row.ended_at is not None:
        return SessionCheck("ended", row.id, reason=row.end_reason)
    if now >= row.expires_at.timestamp():
        _end(session, row, "expired", now)
        return SessionCheck("expired", row.id, reason="expired")
    if now - row.last_seen_at.timestamp() > max_idle_s:
        _end(session, row, "idle", now)
        return SessionCheck("expired", row.id, reason="idle")
    account = session.get(User, row.user_id)
    if account is None or not account.active:
        _end(session, row, "deactivated", now)
        return SessionCheck("ended", row.id, reason="deactivated")
    if touch and now - row.last_seen_at.timestamp() >= _TOUCH_EVERY_S:
        row.last_seen_at = _at(now)
    user = _record(account, session)
    return SessionCheck("ok", row.id, user=user, has_cookie=row.token_hash is not None)


def resume_session(
    store: Store, secret: bytes, cookie: object, *, max_idle_s: float, now: float | None = None
) -> SessionCheck:
    """Sign a new Streamlit session in from the browser's cookie, if it still names a session.

    A valid cookie restarts the session's idle clock and records ``sign_in``
    (method ``session_cookie``) in the audit trail; a session found idle for
    longer than ``max_idle_s`` or past :data:`MAX_SESSION_HOURS` is ended
    (``status="expired"``).
    """
    now = time.time() if now is None else now
    token = _verified_token(secret, cookie, now)
    if token is None:
        return SessionCheck("invalid")
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
        check = _check_row(row, session, max_idle_s=max_idle_s, touch=True, now=now)
    if check.ok and check.user is not None:
        record_event(store, check.user.username, "sign_in", details={"method": "session_cookie"})
    return check


def check_session(
    store: Store,
    session_id: int,
    *,
    max_idle_s: float,
    touch: bool = True,
    now: float | None = None,
) -> SessionCheck:
    """Whether session ``session_id`` is still signed in; with ``touch``, a use restarts its clock.

    Called on every run of a signed-in Streamlit session: a sign-out in
    another tab, an administrator's deactivation or a password change ends
    this one too.
    """
    now = time.time() if now is None else now
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = session.get(WebSession, int(session_id))
        return _check_row(row, session, max_idle_s=max_idle_s, touch=touch, now=now)


def end_session(store: Store, session_id: int, reason: str, *, now: float | None = None) -> None:
    """End session ``session_id`` (sign-out, idle...): its cookie no longer signs anyone in."""
    now = time.time() if now is None else now
    with Session(store.engine) as session, session.begin():
        row = session.get(WebSession, int(session_id))
        if row is not None and row.ended_at is None:
            _end(session, row, reason, now)


def end_session_by_cookie(
    store: Store, secret: bytes, cookie: object, reason: str, *, now: float | None = None
) -> bool:
    """End the session a signed cookie names; whether one was ended."""
    now = time.time() if now is None else now
    token = _verified_token(secret, cookie, now)
    if token is None:
        return False
    with Session(store.engine) as session, session.begin():
        row = session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
        if row is None or row.ended_at is not None:
            return False
        _end(session, row, reason, now)
    return True
