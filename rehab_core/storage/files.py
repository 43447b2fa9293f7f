"""The content-addressed file store under the data folder, its lock and its garbage collection.

::

    DATA_DIR/
        files/<sha[:2]>/<sha><suffix>   every accepted recording, stored once by content
        tmp/                            working copies (upload checks, the demo patient)
        .files.lock                     uploads share it; deletions and collection hold it alone

Rules
-----
* A file is written atomically (temporary file, fsync, rename, fsync of the
  folder) before the database row that references it exists, and removed
  only after that row is deleted: a process killed at any point leaves at
  worst a file no row references (or a temporary one), which
  :meth:`FileStore.collect_garbage` removes; never a row without its file.
* Writers hold :meth:`FileStore.lock` shared from writing the file to
  committing its row; whoever removes files holds it exclusively while it
  decides which files nothing references and removes them, so a file shared
  by content is never removed under a new row.
* Which stored paths are referenced is the database's knowledge: the store
  passes a ``referenced`` query in (:func:`rehab_core.storage.uploads.referenced_paths`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from rehab_core._files import fsync_dir, write_atomic

__all__ = ["FileStore", "STALE_TMP_S"]

STALE_TMP_S = 3600.0
"""Age in seconds after which :meth:`FileStore.collect_garbage` treats a working copy as stale."""

Referenced = Callable[[Collection[str] | None], set[str]]
"""``referenced(paths)``: which of ``paths`` (all when None) a database row names."""


class FileStore:
    """Files kept by content under ``root / "files"``, named by paths relative to ``root``.

    Parameters
    ----------
    root : Path
        The data folder (created if missing).
    referenced : callable
        ``referenced(paths) -> set`` of the relative paths, of ``paths`` (or of
        all when None), that a database row still names.
    """

    def __init__(self, root: Path, referenced: Referenced) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._referenced = referenced

    def __repr__(self) -> str:
        return f"FileStore(root={str(self.root)!r})"

    @staticmethod
    def content_path(sha256: str, suffix: str) -> str:
        """Where content with this SHA-256 is kept, relative to the root: ``files/ab/ab....txt``."""
        return (Path("files") / sha256[:2] / f"{sha256}{suffix}").as_posix()

    def absolute(self, rel: str) -> Path:
        """``root / rel``."""
        return self.root / rel

    @contextlib.contextmanager
    def lock(self, *, exclusive: bool) -> Iterator[None]:
        """Hold ``root/.files.lock`` (``flock``: across threads and processes on this host)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
            yield
            return
        fd = os.open(self.root / ".files.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    def write(self, rel: str, content: bytes) -> bool:
        """Write the content-addressed file unless it is there already; True if written now.

        Call with the lock held (shared), before the row that references it.
        """
        target = self.absolute(rel)
        if target.is_file() and target.stat().st_size == len(content):
            return False
        created_dir = not target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        if created_dir:
            fsync_dir(target.parent.parent)
        write_atomic(target, content)
        fsync_dir(target.parent)
        return True

    def _stored_file(self, rel: str) -> Path | None:
        """``root / rel`` if ``rel`` names a file under ``root/files``, else None."""
        files = (self.root / "files").resolve()
        path = (self.root / rel).resolve()
        return path if path.is_relative_to(files) and path != files else None

    def remove_unreferenced(self, rels: Collection[str]) -> list[Path]:
        """Remove the files of ``rels`` that no row references; the paths removed.

        Call with the exclusive lock held, after the rows that referenced them
        are committed as deleted. Paths outside ``root/files`` are never touched.
        """
        if not rels:
            return []
        kept = self._referenced(sorted(rels))
        removed = []
        for rel in sorted(set(rels) - kept):
            path = self._stored_file(rel)
            if path is None or not path.is_file():
                continue
            path.unlink(missing_ok=True)
            fsync_dir(path.parent)
            removed.append(path)
        return removed

    def discard(self, rel: str) -> None:
        """Remove ``rel`` if no row references it (a write whose row was never committed)."""
        with self.lock(exclusive=True):
            self.remove_unreferenced({rel})

    @contextlib.contextmanager
    def temp_folder(self) -> Iterator[Path]:
        """A fresh folder under ``root/tmp``, removed on exit (or by :meth:`collect_garbage`)."""
        tmp_root = self.root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tmp_root) as folder:
            yield Path(folder)

    def collect_garbage(
        self, *, tmp_older_than_s: float = STALE_TMP_S, dry_run: bool = False
    ) -> list[Path]:
        """Remove stored files no row references, and stale working copies.

        Such files are what a process killed mid-upload (after the file, before
        its row) or mid-deletion (after the rows, before the files) leaves
        behind. Under ``root/files`` every file no row names goes, including
        unfinished atomic writes (uploads in progress hold the lock, so none is
        running); under ``root/tmp`` the entries older than ``tmp_older_than_s``
        (a younger one may belong to an upload being checked right now).

        Parameters
        ----------
        tmp_older_than_s : float
            Age (seconds since the last change) from which a ``tmp`` entry is stale.
        dry_run : bool
            Only list what would be removed; remove nothing.

        Returns
        -------
        list of Path
            What was removed, or would be with ``dry_run`` (files, and folders
            under ``tmp``), sorted.
        """
        removed: list[Path] = []
        files = self.root / "files"
        with self.lock(exclusive=True):
            if files.is_dir():
                referenced = self._referenced(None)
                for path in sorted(files.rglob("*")):
                    rel = path.relative_to(self.root).as_posix()
                    if rel not in referenced and path.is_file() and not path.is_symlink():
                        if not dry_run:
                            path.unlink(missing_ok=True)
                            fsync_dir(path.parent)
                        removed.append(path)
        tmp = self.root / "tmp"
        if tmp.is_dir():
            deadline = time.time() - tmp_older_than_s
            for path in sorted(tmp.iterdir()):
                try:
                    if path.lstat().st_mtime > deadline:
                        continue
                except FileNotFoundError:  # finished meanwhile
                    continue
                if not dry_run and path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                elif not dry_run:
                    path.unlink(missing_ok=True)
                removed.append(path)
        return sorted(removed)
