"""The store facade: every call that names a patient refuses an unknown id the same way."""

from __future__ import annotations

import pytest

from rehab_core.storage import RecordNotFound


@pytest.mark.parametrize("pid", [7, 0, -1, 2**31, 2**63, 2**70])
def test_unknown_ids_raise_record_not_found(store, pid):
    """Also ids beyond 32 bits, which PostgreSQL refuses to compare with an Integer key."""
    for call in (
        lambda: store.get_patient(pid),
        lambda: store.uploads(pid),
        lambda: store.predictions(pid),
        lambda: store.add_upload(pid, "signals", "a.txt", b"x"),
        lambda: store.delete_patient(pid),
    ):
        with pytest.raises(RecordNotFound, match=rf"^There is no patient with id {pid}\.$"):
            call()
    with pytest.raises(RecordNotFound):
        store.get_patient("7")  # not an int id
