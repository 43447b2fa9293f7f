"""The content-addressed file store: its lock, and the garbage a killed process leaves."""

from __future__ import annotations

from _store_helpers import stored_files


def test_deletion_waits_for_an_upload_that_shares_its_file(store, signals_bytes, monkeypatch):
    """Without the files lock the deletion would remove the file under the upload's new row."""
    import threading

    from rehab_core.storage.files import FileStore

    doomed, newcomer = store.create_patient("P-1"), store.create_patient("P-2")
    theirs = store.add_upload(doomed.id, "signals", "a.txt", signals_bytes)
    written, go_on = threading.Event(), threading.Event()
    real_write = FileStore.write

    def slow_write(self, rel, content):
        wrote = real_write(self, rel, content)  # the file is there (already, being shared)
        written.set()
        go_on.wait(30)  # ...and the row not yet in
        return wrote

    monkeypatch.setattr(FileStore, "write", slow_write)
    results = {}
    upload = threading.Thread(
        target=lambda: results.update(
            up=store.add_upload(newcomer.id, "signals", "b.txt", signals_bytes)
        )
    )
    deletion = threading.Thread(target=lambda: results.update(gone=store.delete_patient(doomed.id)))
    upload.start()
    assert written.wait(30)
    deletion.start()
    deletion.join(0.5)
    assert deletion.is_alive()  # waiting for the upload's row
    go_on.set()
    upload.join(30)
    deletion.join(30)
    assert results["gone"].removed_files == ()  # the newcomer's row references the file
    assert results["up"].path == theirs.path and theirs.path.read_bytes() == signals_bytes
    assert store.uploads(newcomer.id) == [results["up"]]


def test_collect_garbage_removes_unreferenced_and_stale_files(store, patient, signals_bytes):
    import os
    import time

    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    orphan = store.data_dir / "files" / "ab" / ("ab" * 32 + ".nii.gz")
    half_written = rec.path.parent / f".tmp-{rec.path.name}-x1y2"
    orphan.parent.mkdir(parents=True)
    for path in (orphan, half_written):
        path.write_bytes(b"left by a killed upload")
    stale = store.data_dir / "tmp" / "old-validation"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "upload-x.txt").write_bytes(b"copy")
    fresh = store.data_dir / "tmp" / "validating-now"
    fresh.mkdir()
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))

    assert store.collect_garbage() == sorted([orphan, half_written, stale])
    assert stored_files(store) == [rec.path] and rec.path.read_bytes() == signals_bytes
    assert fresh.is_dir() and not stale.exists()
    assert store.collect_garbage(tmp_older_than_s=0) == [fresh]
    assert store.collect_garbage() == []
    assert store.uploads(patient.id) == [rec]


def test_collect_garbage_dry_run_lists_and_keeps(store, patient, signals_bytes):
    import os
    import time

    rec = store.add_upload(patient.id, "signals", "a.txt", signals_bytes)
    orphan = store.data_dir / "files" / "cd" / ("cd" * 32 + ".txt")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a killed deletion")
    stale = store.data_dir / "tmp" / "old-validation"
    stale.mkdir(parents=True)
    hour_ago = time.time() - 3700
    os.utime(stale, (hour_ago, hour_ago))

    assert store.collect_garbage(dry_run=True) == sorted([orphan, stale])
    assert orphan.is_file() and stale.is_dir()  # nothing removed
    assert store.collect_garbage() == sorted([orphan, stale])
    assert store.collect_garbage(dry_run=True) == []
    assert stored_files(store) == [rec.path]


# --- the file store on its own (no database: ``referenced`` is a set) ----------------------


def file_store(root, referenced=()):
    from rehab_core.storage.files import FileStore

    names = set(referenced)
    return FileStore(root, lambda paths: names if paths is None else names & set(paths))


def test_content_is_written_once_under_its_hash(tmp_path):
    import hashlib

    files = file_store(tmp_path / "data")
    content = b"a recording"
    sha = hashlib.sha256(content).hexdigest()
    rel = files.content_path(sha, ".nii.gz")
    assert rel == f"files/{sha[:2]}/{sha}.nii.gz"
    assert files.write(rel, content) is True
    assert files.write(rel, content) is False  # already there: not rewritten
    assert files.absolute(rel).read_bytes() == content
    assert sorted(p.name for p in files.absolute(rel).parent.iterdir()) == [f"{sha}.nii.gz"]


def test_only_unreferenced_files_under_files_are_removed(tmp_path):
    root = tmp_path / "data"
    files = file_store(root, referenced={"files/ab/kept.txt"})
    for rel in ("files/ab/kept.txt", "files/ab/gone.txt", "rehab.db"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not the store's")
    asked = {"files/ab/kept.txt", "files/ab/gone.txt", "rehab.db", "../outside.txt", "files"}
    with files.lock(exclusive=True):
        assert files.remove_unreferenced(asked) == [root / "files/ab/gone.txt"]
    assert (root / "files/ab/kept.txt").is_file() and (root / "rehab.db").is_file()
    assert outside.is_file()
    assert files.remove_unreferenced(set()) == []


def test_a_working_folder_is_removed_on_exit(tmp_path):
    files = file_store(tmp_path / "data")
    with files.temp_folder() as folder:
        (folder / "copy.txt").write_bytes(b"x")
        assert folder.parent == tmp_path / "data" / "tmp"
    assert not folder.exists()
    assert files.collect_garbage(tmp_older_than_s=0) == []
