"""Sign-in throttling: exponential back-off per account and per client (issue 14, finding 3).

Before: 25 wrong passwords in 6 s, then the right one accepted; every failure
cost an Argon2 hash and an audit row.
"""

from __future__ import annotations

import pytest

from rehab_core.security import (
    AuthError,
    ThrottledError,
    audit_events,
    authenticate,
    create_user,
)
from rehab_core.security import accounts as accounts_module
from rehab_core.security.throttle import (
    ACCOUNT_BACKOFF,
    CLIENT_BACKOFF,
    MAX_KEYS,
    Backoff,
    SignInThrottle,
)
from rehab_core.storage import open_store

PASSWORD = "a long enough pass"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(clock):
    return SignInThrottle(clock=clock)


@pytest.fixture
def store(tmp_path):
    s = open_store(url=f"sqlite:///{tmp_path / 'rehab.db'}", data_dir=tmp_path / "data")
    create_user(s, "nurse.a", PASSWORD, "clinician", actor="pytest")
    yield s
    s.close()


def test_backoff_doubles_after_the_free_failures_and_is_capped():
    b = Backoff(free_failures=3, base_s=1.0, max_s=60.0, forget_s=900.0)
    assert [b.delay_s(n) for n in range(1, 11)] == [0, 0, 0, 1, 2, 4, 8, 16, 32, 60]
    assert b.delay_s(10_000) == 60.0
    assert ACCOUNT_BACKOFF.max_s == 60.0 < CLIENT_BACKOFF.max_s  # the client is slowed more


def test_twenty_five_wrong_passwords_then_the_right_one_is_refused(store, throttle, clock):
    hashes = []
    real_verify = accounts_module.verify_password
    accounts_module.verify_password = lambda *a: hashes.append(1) or real_verify(*a)
    try:
        outcomes = []
        for _ in range(25):
            try:
                authenticate(store, "nurse.a", "guess", client="10.0.0.9", throttle=throttle)
            except ThrottledError:
                outcomes.append("throttled")
            except AuthError:
                outcomes.append("wrong")
            clock.now += 0.25  # 25 attempts in about 6 s
        assert outcomes[:4] == ["wrong"] * 4 and outcomes.count("throttled") >= 18
        with pytest.raises(ThrottledError, match=r"^Too many failed sign-ins; wait \d+ s, then"):
            authenticate(store, "nurse.a", PASSWORD, client="10.0.0.9", throttle=throttle)
    finally:
        accounts_module.verify_password = real_verify
    # throttled attempts cost no hash and no audit row
    assert len(hashes) == outcomes.count("wrong")
    assert len(audit_events(store, action="sign_in_failed")) == outcomes.count("wrong")
    clock.now += 61  # the account waits at most a minute; this client is not over its limit
    assert authenticate(store, "nurse.a", PASSWORD, client="10.0.0.9", throttle=throttle)


def test_an_attacker_delays_a_user_by_a_minute_at_most(store, throttle, clock):
    for k in range(200):  # from many clients: each one stays under its own limit
        throttle.failed("nurse.a", f"10.1.{k // 250}.{k % 250}")
    assert 0 < throttle.wait_s("nurse.a", "192.168.0.7") <= 60
    clock.now += 60
    user = authenticate(store, "nurse.a", PASSWORD, client="192.168.0.7", throttle=throttle)
    assert user.username == "nurse.a" and throttle.wait_s("nurse.a", None) == 0


def test_one_client_guessing_across_accounts_is_slowed_more(throttle, clock):
    for k in range(CLIENT_BACKOFF.free_failures + 8):
        throttle.failed(f"user{k}", "10.0.0.66")  # never the same account twice
    assert throttle.wait_s("someone.new", "10.0.0.66") == CLIENT_BACKOFF.delay_s(18) > 60
    assert throttle.wait_s("someone.new", "10.0.0.67") == 0  # other clients are not affected


def test_success_clears_the_account_but_not_the_client(store, throttle, clock):
    for _ in range(CLIENT_BACKOFF.free_failures + 1):
        throttle.failed("other", "10.0.0.5")
        clock.now += 1000  # the account side forgets meanwhile; the client side does not
    throttle.failed("nurse.a", "10.0.0.5")
    throttle.succeeded("nurse.a")
    assert throttle.wait_s("nurse.a", None) == 0 and throttle.wait_s("x", "10.0.0.5") > 0


def test_failures_are_forgotten_after_a_quiet_spell(throttle, clock):
    for _ in range(8):
        throttle.failed("nurse.a", None)
    assert throttle.wait_s("nurse.a", None) > 0
    clock.now += ACCOUNT_BACKOFF.forget_s
    assert throttle.wait_s("nurse.a", None) == 0
    throttle.failed("nurse.a", None)  # starts over: one failure is free again
    assert throttle.wait_s("nurse.a", None) == 0


def test_memory_is_bounded_whatever_names_are_sprayed(throttle, monkeypatch):
    from rehab_core.security import throttle as module

    monkeypatch.setattr(module, "MAX_KEYS", 100)
    for k in range(1000):
        throttle.failed(f"sprayed{k}", f"client{k}")
    assert len(throttle._accounts.failures) == len(throttle._clients.failures) == 100
    assert MAX_KEYS == 50_000
