"""Sign-in throttling: exponential back-off per account and per client.

Every failed password sign-in counts against the account (the user name
typed) and against the client (its address). After a few free failures each
further one doubles the time that key must wait before the next attempt is
even checked. A throttled attempt is refused at once: it costs no Argon2
hash and writes no audit row, so guessing is slowed to a trickle and cannot
be used to load the server.

The two keys are tuned differently on purpose:

* the account's delay is capped at :data:`ACCOUNT_BACKOFF`'s one minute, so
  an attacker who knows a user name can delay that user's sign-in by at most
  a minute, never lock them out;
* the client's delay grows to a quarter of an hour, so one client guessing
  across many accounts is slowed far more. A successful sign-in clears the
  account's count, not the client's.

A key with no failure for its ``forget_s`` starts over. State is per server
process (Streamlit serves every session from one), in memory, at most
:data:`MAX_KEYS` keys each (oldest forgotten first): a restart forgets it.
Behind a reverse proxy every client has the proxy's address unless the page
is told to trust ``X-Forwarded-For`` (``REHAB_TRUST_FORWARDED_FOR``, README).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Backoff",
    "ACCOUNT_BACKOFF",
    "CLIENT_BACKOFF",
    "MAX_KEYS",
    "SignInThrottle",
    "SIGN_IN_THROTTLE",
]

MAX_KEYS = 50_000
"""Keys remembered per kind; beyond that the least recently failed is forgotten."""


@dataclass(frozen=True)
class Backoff:
    """How one kind of key is slowed down.

    After ``free_failures`` failures, the ``k``-th further failure makes the
    key wait ``min(base_s * 2 ** (k - 1), max_s)`` seconds from that failure.

    Attributes
    ----------
    free_failures : int
        Failures allowed without any wait (typos).
    base_s : float
        The first wait, in seconds.
    max_s : float
        The longest wait, in seconds.
    forget_s : float
        Seconds without a failure after which the key starts over.
    """

    free_failures: int
    base_s: float
    max_s: float
    forget_s: float

    def delay_s(self, n_failures: int) -> float:
        """Seconds to wait after the ``n_failures``-th failure (0 while still free)."""
        extra = n_failures - self.free_failures
        if extra <= 0:
            return 0.0
        return min(self.base_s * 2.0 ** min(extra - 1, 64), self.max_s)


ACCOUNT_BACKOFF = Backoff(free_failures=3, base_s=1.0, max_s=60.0, forget_s=15 * 60.0)
"""Per account: 3 free failures, then 1, 2, 4... s, never more than a minute."""
CLIENT_BACKOFF = Backoff(free_failures=10, base_s=2.0, max_s=15 * 60.0, forget_s=60 * 60.0)
"""Per client: 10 free failures, then 2, 4, 8... s, up to a quarter of an hour."""


class _Keys:
    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def wait_s(self, key: str, now: float) -> float:
        count, last = self.failures.get(key, (0, -math.inf))
        if now - last >= self.backoff.forget_s:
            return 0.0
        return max(0.0, last + self.backoff.delay_s(count) - now)

    def fail(self, key: str, now: float) -> None:
        count, last = self.failures.pop(key, (0, -math.inf))
        if now - last >= self.backoff.forget_s:
            count = 0
        self.failures[key] = (count + 1, now)
        while len(self.failures) > MAX_KEYS:
            self.failures.popitem(last=False)


class SignInThrottle:
    """Failures per account and per client, and how long each must wait now.

    Parameters
    ----------
    account, client : Backoff
        The schedules (:data:`ACCOUNT_BACKOFF`, :data:`CLIENT_BACKOFF`).
    clock : callable
        Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        account: Backoff = ACCOUNT_BACKOFF,
        client: Backoff = CLIENT_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = _Keys(account)
        self._clients = _Keys(client)
        self._clock = clock
        self._lock = threading.Lock()

    def wait_s(self, account: str, client: str | None) -> float:
        """Seconds before ``account`` may try again from ``client`` (0: now)."""
        now = self._clock()
        with self._lock:
            wait = self._accounts.wait_s(account, now)
            if client is not None:
                wait = max(wait, self._clients.wait_s(client, now))
        return wait

    def failed(self, account: str, client: str | None) -> None:
        """Count a failed attempt against both keys."""
        now = self._clock()
        with self._lock:
            self._accounts.fail(account, now)
            if client is not None:
                self._clients.fail(client, now)

    def succeeded(self, account: str) -> None:
        """Clear the account's failures (the client's stay: it may be guessing elsewhere)."""
        with self._lock:
            self._accounts.failures.pop(account, None)

    def reset(self) -> None:
        """Forget every failure."""
        with self._lock:
            self._accounts.failures.clear()
            self._clients.failures.clear()


SIGN_IN_THROTTLE = SignInThrottle()
"""The server's throttle, used by :func:`rehab_core.security.authenticate` by default."""
