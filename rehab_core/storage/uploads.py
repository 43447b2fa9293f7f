"""Uploaded recordings: checked, de-identified, kept once by content, one row per patient and kind.

Rules
-----
* An upload is read with the real reader from a working copy before anything
  is kept (:func:`rehab_core.io.upload_check.check_upload`); a refused file
  raises the reader's :class:`~rehab_core.io.InputError` (one sentence naming
  the file as the user called it) and stores nothing.
* The name a file was uploaded under is used during the upload only: its
  suffix (checked against :data:`UPLOAD_SUFFIXES`, never the name as a path)
  and the refusal's sentence, where the user needs it. It is not kept: file
  names often carry the patient's name, so the record, the pages and the PDF
  report name a recording by :func:`upload_label` (``"EEG-EMG recording
  (.txt)"``), stored in the ``original_name`` column for compatibility.
* Names and dates are cleared from the file's header before it is hashed,
  checked or stored (:func:`rehab_core.io.deidentify.deidentify_bytes`);
  ``qc["deidentified"]``, present when something was cleared, lists the fields
  (names, not values).
* The file is written (:meth:`FileStore.write`) under the shared files lock,
  then its row is inserted in one transaction; if the insert fails, a file
  this upload wrote and no row references is removed again.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rehab_core._validation import check_option
from rehab_core.io.deidentify import deidentify_bytes
from rehab_core.io.errors import InputError
from rehab_core.io.sandbox import run_limited
from rehab_core.io.upload_check import KINDS, UPLOAD_SUFFIXES, check_upload, upload_suffix
from rehab_core.storage import db
from rehab_core.storage.errors import RecordNotFound, UploadTooLargeError
from rehab_core.storage.files import FileStore
from rehab_core.storage.patients import patient_row

__all__ = [
    "KINDS",
    "UPLOAD_SUFFIXES",
    "UploadRecord",
    "add_upload",
    "list_uploads",
    "referenced_paths",
    "set_channel_map",
    "upload_label",
]

_NAME_MAX = 255


@dataclass(frozen=True)
class UploadRecord:
    """A stored recording.

    ``path`` is absolute (the data folder joined with the stored relative
    path). ``original_name`` is the de-identified label of :func:`upload_label`
    (the uploaded name is not kept). ``duplicate`` is True when :func:`add_upload`
    found the same bytes already stored for this patient and kind and returned
    that record.
    """

    id: int
    patient_id: int
    kind: str
    original_name: str
    path: Path
    size: int
    sha256: str
    format: str
    qc: dict[str, Any]
    created_at: _dt.datetime
    duplicate: bool = False

    @property
    def channel_map(self) -> dict[str, str]:
        """The user's channel map (the recording's name -> the model's), ``{}`` when none.

        Kept in ``qc["channel_map"]`` (:func:`set_channel_map`): the upload row
        holds it without a schema change.
        """
        return dict(self.qc.get("channel_map") or {})


_KIND_LABELS = {"signals": "EEG-EMG recording", "fmri": "Resting-state fMRI"}


def upload_label(kind: str, suffix: str) -> str:
    """How a stored recording is named everywhere after its upload: kind and format only.

    ``upload_label("signals", ".txt") == "EEG-EMG recording (.txt)"``.
    """
    return f"{_KIND_LABELS[kind]} ({suffix})"


def _clean_name(original_name: Any) -> str:
    """The uploaded name as metadata: its last path component, stripped, at most 255 chars."""
    if not isinstance(original_name, str) or not original_name.strip():
        raise ValueError("original_name must be the uploaded file's name, a non-empty string.")
    name = original_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    if not name:
        raise ValueError(f"original_name={original_name!r} holds no file name.")
    return name[-_NAME_MAX:]


def _upload_bytes(data: bytes | str | os.PathLike[str], name: str, max_mb: float) -> bytes:
    """The upload's bytes, refused above ``max_mb`` (a path is checked before it is read)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        size = memoryview(data).nbytes
    elif isinstance(data, (str, os.PathLike)):
        size = Path(data).stat().st_size
    else:
        raise TypeError(f"data must be bytes or a file path, got {type(data).__name__}.")
    if size > max_mb * 1e6:
        raise UploadTooLargeError(
            f"{name} is {size / 1e6:,.1f} MB, above the {max_mb:g} MB upload limit; "
            "upload a shorter recording or ask the administrator to raise REHAB_MAX_UPLOAD_MB."
        )
    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    return bytes(data)


def _checked_qc(
    files: FileStore, kind: str, suffix: str, name: str, content: bytes, sha: str
) -> dict[str, Any]:
    """Check a working copy with the real reader; the QC summary, or the reader's refusal."""
    with files.temp_folder() as folder:
        copy = folder / f"upload-{sha[:16]}{suffix}"
        copy.write_bytes(content)
        # read in a child process with CPU, wall-time and memory limits (hostile files)
        return run_limited(check_upload, kind, copy, name, what=name)


def _record(row: db.Upload, files: FileStore, *, duplicate: bool = False) -> UploadRecord:
    return UploadRecord(
        id=row.id,
        patient_id=row.patient_id,
        kind=row.kind,
        original_name=row.original_name,
        path=files.absolute(row.path),
        size=row.size,
        sha256=row.sha256,
        format=row.format,
        qc=dict(row.qc),
        created_at=row.created_at,
        duplicate=duplicate,
    )


def _find(
    sessions: sessionmaker[Session], files: FileStore, patient_id: int, kind: str, sha: str
) -> UploadRecord | None:
    with sessions() as session:
        row = session.scalar(
            select(db.Upload).where(
                db.Upload.patient_id == patient_id,
                db.Upload.kind == kind,
                db.Upload.sha256 == sha,
            )
        )
        return None if row is None else _record(row, files, duplicate=True)


def _made_latest(sessions: sessionmaker[Session], files: FileStore, upload_id: int) -> UploadRecord:
    """An upload given again becomes the patient's latest of its kind (what pages and predictions
    use): a user who uploads an older recording again means that one, not the newer one."""
    with sessions.begin() as session:
        row = session.get(db.Upload, upload_id)
        row.created_at = db.utc_now()
        session.flush()
        return _record(row, files, duplicate=True)


def add_upload(
    sessions: sessionmaker[Session],
    files: FileStore,
    patient_id: int,
    kind: str,
    original_name: str,
    data: bytes | str | os.PathLike[str],
    *,
    max_upload_mb: float,
) -> UploadRecord:
    """Check and store one recording; see :meth:`rehab_core.storage.Store.add_upload`."""
    check_option("kind", kind, KINDS)
    name = _clean_name(original_name)
    suffix = upload_suffix(kind, name)
    with sessions() as session:
        patient_row(session, patient_id)
    content = _upload_bytes(data, name, max_upload_mb)
    # names and dates leave the header before anything is hashed, read or stored
    try:
        content, deidentified = deidentify_bytes(kind, name, content, work_dir=files.root / "tmp")
    except InputError:  # the reader's own refusal says best what is wrong; else this one
        _checked_qc(files, kind, suffix, name, content, hashlib.sha256(content).hexdigest())
        raise
    sha = hashlib.sha256(content).hexdigest()
    existing = _find(sessions, files, patient_id, kind, sha)
    if existing is not None:
        with files.lock(exclusive=False):  # the same bytes again repair a file changed on disk
            files.write(existing.path.relative_to(files.root).as_posix(), content)
        return _made_latest(sessions, files, existing.id)
    qc = _checked_qc(files, kind, suffix, name, content, sha)
    if deidentified["cleared"]:
        qc["deidentified"] = deidentified["cleared"]
    rel = files.content_path(sha, suffix)
    row = db.Upload(
        patient_id=patient_id,
        kind=kind,
        original_name=upload_label(kind, suffix),  # never the uploaded name
        path=rel,
        size=len(content),
        sha256=sha,
        format=UPLOAD_SUFFIXES[kind][suffix],
        qc=qc,
        created_at=db.utc_now(),
    )
    wrote = False
    try:
        # shared: no deletion may find the file unreferenced and remove it before this row is in
        with files.lock(exclusive=False):
            wrote = files.write(rel, content)
            with sessions.begin() as session:
                session.add(row)
                session.flush()
                return _record(row, files)
    except BaseException as err:
        if wrote:
            files.discard(rel)
        if isinstance(err, IntegrityError):
            # a concurrent upload of the same bytes for this patient won the race
            existing = _find(sessions, files, patient_id, kind, sha)
            if existing is not None:
                return existing
        raise


def list_uploads(
    sessions: sessionmaker[Session], files: FileStore, patient_id: int, kind: str | None = None
) -> list[UploadRecord]:
    """A patient's uploads (of one kind, or all), newest first."""
    if kind is not None:
        check_option("kind", kind, KINDS)
    with sessions() as session:
        patient_row(session, patient_id)
        query = select(db.Upload).where(db.Upload.patient_id == patient_id)
        if kind is not None:
            query = query.where(db.Upload.kind == kind)
        query = query.order_by(db.Upload.created_at.desc(), db.Upload.id.desc())
        return [_record(r, files) for r in session.scalars(query)]


def set_channel_map(
    sessions: sessionmaker[Session],
    files: FileStore,
    upload_id: int,
    mapping: dict[str, str],
    missing_paper_channels: list[str],
) -> UploadRecord:
    """Store an EEG-EMG upload's channel map and what the model still lacks with it applied.

    ``mapping`` is checked by the caller against the recording
    (:func:`rehab_core.io.apply_channel_map`); an empty one removes the map.

    Raises
    ------
    RecordNotFound
        No such upload.
    ValueError
        The upload is not an EEG-EMG recording.
    """
    with sessions.begin() as session:
        row = session.get(db.Upload, upload_id)
        if row is None:
            raise RecordNotFound(f"No upload with id {upload_id}.")
        if row.kind != "signals":
            raise ValueError("Only an EEG-EMG recording has channels to map.")
        qc = dict(row.qc)
        qc["channel_map"] = {str(k): str(v) for k, v in mapping.items()}
        if not mapping:
            qc.pop("channel_map")
        qc["missing_paper_channels"] = list(missing_paper_channels)
        row.qc = qc  # a new dict: the JSON column is written again
        session.flush()
        return _record(row, files)


def referenced_paths(
    sessions: sessionmaker[Session], paths: Collection[str] | None = None
) -> set[str]:
    """The stored relative paths, of ``paths`` (all when None), that an upload row names."""
    query = select(db.Upload.path).distinct()
    if paths is not None:
        query = query.where(db.Upload.path.in_(sorted(paths)))
    with sessions() as session:
        return set(session.scalars(query))
