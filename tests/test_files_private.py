"""rehab_core._files: data at rest is private (0600 files, 0700 folders) without touching the umask.

Before (issue 14, finding 11): files came out 0644 under the usual umask, and
``write_atomic`` set the process umask to 0 for an instant, so another thread
creating a folder then got 0777 (3 of 111,644 folders in the review).
"""

from __future__ import annotations

import os
import stat
import threading

from rehab_core._files import make_private_dir, write_atomic


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_atomic_makes_private_files_whatever_the_umask(tmp_path):
    old = os.umask(0o000)  # the most permissive umask: the mode must still be private
    try:
        write_atomic(tmp_path / "a.bin", b"x")
        write_atomic(tmp_path / "b.json", b"{}", mode=0o640)
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.bin") == 0o600 and mode(tmp_path / "b.json") == 0o640


def test_write_atomic_never_changes_the_umask(tmp_path, monkeypatch):
    calls = []
    real = os.umask
    monkeypatch.setattr(os, "umask", lambda m: calls.append(m) or real(m))
    write_atomic(tmp_path / "a.bin", b"x")
    assert calls == []


def test_threads_writing_and_making_folders_never_see_a_world_writable_folder(tmp_path):
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set():
            write_atomic(tmp_path / f"w{k % 50}.bin", b"data")
            k += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        made = [make_private_dir(tmp_path / "d" / str(i)) for i in range(2000)]
    finally:
        stop.set()
        thread.join()
    assert {mode(p) for p in made} == {0o700}


def test_make_private_dir_tightens_an_existing_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert make_private_dir(folder) == folder and mode(folder) == 0o700
