"""A writer process for test_store_durability.py: uploads recordings until it is killed.

Usage: ``python _upload_writer.py URL DATA_DIR FIRST_SEED [CRASH_AT]``

Without ``CRASH_AT`` it uploads new recordings in a loop (every third one also
for a second patient, so files are shared by content; every seventh iteration
erases a patient) and prints ``ready`` once warm; the test kills it with
SIGKILL at a random moment. With ``CRASH_AT`` (one of :data:`CRASH_POINTS`)
it makes one warm-up upload, prints ``attempt <sha256>`` (or ``delete <id>``)
and kills itself with SIGKILL at that point of the next upload (or deletion).
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np

CRASH_POINTS = (
    "after_temp_write",  # the temporary file is written, not yet fsynced
    "after_fsync",  # fsynced, not yet renamed into place
    "after_rename",  # in place, before its folder is fsynced and before the row
    "before_commit",  # the row is inserted, the transaction not yet committed
    "after_commit",  # the row is committed, add_upload has not returned
    "delete_after_rows",  # delete_patient committed the row deletions, files not yet removed
)

armed = False


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install_crash(point: str, store) -> None:
    """Kill this process at ``point`` once :data:`armed` is set."""
    from sqlalchemy import event

    from rehab_core.storage.files import FileStore

    real_fsync, real_replace = os.fsync, os.replace

    def is_upload_tmp(name: str) -> bool:
        return f"{os.sep}files{os.sep}" in name and f"{os.sep}.tmp-" in name

    def fsync(fd):
        if armed and point == "after_temp_write":
            if is_upload_tmp(os.readlink(f"/proc/self/fd/{fd}")):
                die()
        return real_fsync(fd)

    def replace(src, dst, **kw):
        upload = is_upload_tmp(os.fspath(src))
        if armed and upload and point == "after_fsync":
            die()
        real_replace(src, dst, **kw)
        if armed and upload and point == "after_rename":
            die()

    os.fsync, os.replace = fsync, replace
    if point == "before_commit":  # fires before the database is asked to commit
        event.listen(store.engine, "commit", lambda conn: die() if armed else None)
    if point == "after_commit":
        event.listen(store._sessions, "after_commit", lambda session: die() if armed else None)
    if point == "delete_after_rows":
        real_remove = FileStore.remove_unreferenced

        def remove(self, rels):
            if armed:
                die()
            return real_remove(self, rels)

        FileStore.remove_unreferenced = remove


def recording(seed: int, folder: Path) -> bytes:
    """The text of a seeded 11-s, 22-channel, 100 Hz recording (distinct bytes per seed)."""
    from rehab_core.io import PAPER_CHANNELS, write_signals_text

    data = np.random.default_rng(seed).normal(0.0, 20.0, size=(22, 1100))
    return write_signals_text(folder / f"{seed}.txt", data, PAPER_CHANNELS, 100.0).read_bytes()


def patient(store, name: str) -> int:
    found = store.find_patient(name)
    return found.id if found is not None else store.create_patient(name).id


def main() -> None:
    global armed
    from rehab_core.storage import open_store

    url, data_dir, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    point = sys.argv[4] if len(sys.argv) > 4 else None
    store = open_store(url, data_dir)
    folder = Path(tempfile.mkdtemp())
    if point is not None:
        install_crash(point, store)
        first, second = patient(store, "W-A"), patient(store, "W-B")
        warm = recording(seed, folder)
        store.add_upload(first, "signals", "warm.txt", warm)
        store.add_upload(second, "signals", "warm.txt", warm)  # shared by content
        if point == "delete_after_rows":
            store.add_upload(first, "signals", "own.txt", recording(seed + 1, folder))
            print(f"delete {first}", flush=True)
            armed = True
            store.delete_patient(first)
        else:
            data = recording(seed + 1, folder)
            print(f"attempt {hashlib.sha256(data).hexdigest()}", flush=True)
            armed = True
            store.add_upload(first, "signals", "crash.txt", data)
        print("survived", flush=True)  # the test fails if it reads this
        return
    for i in range(seed, seed + 10_000):
        pid = patient(store, f"W-{i % 4}")
        data = recording(i, folder)
        store.add_upload(pid, "signals", f"rec-{i}.txt", data)
        if i % 3 == 0:
            store.add_upload(patient(store, f"W-{(i + 1) % 4}"), "signals", f"copy-{i}.txt", data)
        if i % 7 == 0:
            store.delete_patient(patient(store, f"W-{(i + 2) % 4}"))
        if i == seed:
            print("ready", flush=True)


if __name__ == "__main__":
    main()
