"""The one-time setup token that lets the web page create the first administrator.

A fresh install has no account. Whoever can read the server's log (the
person who started it) gets a token there; the first-run form asks for it.
Anyone else who reaches the page cannot become administrator. The other way
in needs no token: ``rehab users add --role admin`` on the server.

Rules
-----
* The token is 32 random bytes (``secrets.token_urlsafe``); only its SHA-256
  is kept, in this process's memory, never in the database.
* It is compared in constant time (:func:`hmac.compare_digest`).
* It expires :data:`SETUP_TOKEN_MINUTES` after it was issued, and is spent
  by the first administrator it creates (single use).
* While a token is valid, asking again issues none (an anonymous visitor who
  reloads the page cannot replace the one in the log); after it expired the
  next request issues, and logs, a new one.
* One server process, one token: Streamlit serves every session from one
  process. Several processes behind a load balancer would each log their own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

__all__ = [
    "SETUP_TOKEN_MINUTES",
    "issue_setup_token",
    "setup_token_matches",
    "spend_setup_token",
    "reset_setup_token",
]

SETUP_TOKEN_MINUTES = 60.0
"""Minutes a setup token stays valid after it was issued."""

_lock = threading.Lock()
_digest: bytes | None = None
_expires_at = 0.0


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def issue_setup_token(*, now: float | None = None) -> str | None:
    """A new token to write to the server's log, or None while the last one is still valid."""
    global _digest, _expires_at
    now = time.time() if now is None else now
    with _lock:
        if _digest is not None and now < _expires_at:
            return None
        token = secrets.token_urlsafe(32)
        _digest = _hash(token)
        _expires_at = now + SETUP_TOKEN_MINUTES * 60
        return token


def setup_token_matches(token: object, *, now: float | None = None) -> bool:
    """Whether ``token`` is the valid, unspent setup token (constant-time comparison)."""
    now = time.time() if now is None else now
    if not isinstance(token, str) or not token.strip():
        return False
    with _lock:
        expected, expires_at = _digest, _expires_at
    if expected is None or now >= expires_at:
        return False
    return hmac.compare_digest(_hash(token.strip()), expected)


def spend_setup_token() -> None:
    """Make the current token unusable (the first administrator exists)."""
    global _digest, _expires_at
    with _lock:
        _digest, _expires_at = None, 0.0


def reset_setup_token() -> None:
    """Forget any token (tests; a server restart does the same)."""
    spend_setup_token()
