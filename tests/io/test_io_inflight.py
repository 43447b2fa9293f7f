"""rehab_core.io.inflight: at most N upload checks per user and in total, refused at once beyond."""

from __future__ import annotations

import threading

import pytest

from rehab_core.io import inflight
from rehab_core.io.inflight import UploadsBusyError, UploadSlots, upload_slot


def test_a_user_gets_at_most_per_user_slots():
    slots = UploadSlots(per_user=1, total=3)
    with slots.hold("ana"):
        with pytest.raises(UploadsBusyError, match=r"^You already have 1 upload"):
            with slots.hold("ana"):
                pass
        with slots.hold("ben"):  # someone else still can
            assert slots.in_flight == 2
    assert slots.in_flight == 0


def test_the_server_checks_at_most_total_uploads():
    slots = UploadSlots(per_user=2, total=2)
    with slots.hold("ana"), slots.hold("ben"):
        with pytest.raises(UploadsBusyError, match=r"^The server is checking 2 uploads"):
            with slots.hold("cai"):
                pass


def test_a_slot_is_released_when_the_check_fails():
    slots = UploadSlots(per_user=1, total=1)
    with pytest.raises(ValueError, match="refused"):
        with slots.hold("ana"):
            raise ValueError("refused")
    with slots.hold("ana"):
        assert slots.in_flight == 1


def test_concurrent_sessions_never_exceed_the_bounds():
    slots = UploadSlots(per_user=1, total=3)
    barrier = threading.Barrier(8)
    peak, refused, lock = [0], [0], threading.Lock()

    def upload(user: str) -> None:
        barrier.wait()
        try:
            with slots.hold(user):
                with lock:
                    peak[0] = max(peak[0], slots.in_flight)
                barrier_done.wait()
        except UploadsBusyError:
            with lock:
                refused[0] += 1
            barrier_done.wait()

    barrier_done = threading.Barrier(8)
    threads = [threading.Thread(target=upload, args=(f"user{i % 4}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 3 and refused[0] == 5


def test_the_server_slots_read_their_bounds_from_the_environment(monkeypatch):
    monkeypatch.setattr(inflight, "_slots", None)
    monkeypatch.setenv("REHAB_UPLOADS_PER_USER", "1")
    monkeypatch.setenv("REHAB_UPLOADS_TOTAL", "5")
    with upload_slot("ana"):
        with pytest.raises(UploadsBusyError):
            with upload_slot("ana"):
                pass
    assert (inflight._slots.per_user, inflight._slots.total) == (1, 5)
    monkeypatch.setattr(inflight, "_slots", None)


def test_bounds_must_be_positive():
    with pytest.raises(ValueError, match="must both be at least 1"):
        UploadSlots(per_user=0)
