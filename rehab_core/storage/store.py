"""Patient records, uploaded recordings and predictions: the dashboard's persistent state.

``open_store()`` returns a :class:`Store` over one database and one data
folder::

    DATA_DIR/
        rehab.db                      SQLite database (unless REHAB_DATABASE_URL says otherwise)
        files/<sha[:2]>/<sha><suffix> every accepted recording, stored once by content
        tmp/                          validation copies, removed after each upload
        .files.lock                   uploads share it; deletions and collect_garbage hold it alone

Rules
-----
* An upload is read with the real reader (:func:`rehab_core.io.read_signals`
  or :func:`rehab_core.io.read_fmri`) from a temporary copy before anything is
  kept; a refused file raises the reader's :class:`~rehab_core.io.InputError`
  (one sentence naming the file as the user called it) and stores nothing.
* The name a file was uploaded under is metadata: only its suffix is used,
  checked against :data:`UPLOAD_SUFFIXES`, never the name as a path. It is
  kept (clinicians recognise their files by it) behind the same sign-in as the
  patient's records, and never written to a log.
* Names and dates are cleared from the file's header before it is hashed,
  validated or stored (:func:`rehab_core.io.deidentify.deidentify_bytes`);
  ``qc["deidentified"]``, present when something was cleared, lists the fields
  (names, not values).
* The file is written atomically (temporary file, fsync, rename, fsync of the
  folder), then its row is inserted in one transaction; if the insert fails,
  a file this upload wrote and no row references is removed again.
* Crash safety: the file is complete on disk before its row exists, and a
  row is deleted before its file. A process killed at any point leaves at worst
  a file no row references (or a temporary file), which
  :meth:`Store.collect_garbage` removes; never a row without its file.
  Uploads hold ``.files.lock`` shared from writing the file to committing
  the row; :meth:`Store.delete_patient` and :meth:`Store.collect_garbage` hold
  it exclusively while they decide which files nothing references and remove
  them, so a file shared by content is never removed under a new row.
* Records returned are frozen dataclasses, detached from any database session.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rehab_core._files import fsync_dir, write_atomic
from rehab_core.io.deidentify import deidentify_bytes
from rehab_core.io.errors import InputError, UnknownFormatError
from rehab_core.security.audit import install_audit_guards
from rehab_core.storage import db

__all__ = [
    "KINDS",
    "UPLOAD_SUFFIXES",
    "DEFAULT_MAX_UPLOAD_MB",
    "PatientRecord",
    "UploadRecord",
    "PredictionRecord",
    "PatientDeletion",
    "RecordNotFound",
    "UploadTooLargeError",
    "Store",
    "open_store",
    "default_data_dir",
]

KINDS: tuple[str, ...] = ("signals", "fmri")
"""What an upload can be: the EEG-EMG recording or the resting-state fMRI."""

UPLOAD_SUFFIXES: dict[str, dict[str, str]] = {
    "signals": {
        ".txt": "rehab-eegemg text",
        ".edf": "EDF",
        ".bdf": "BDF",
        ".fif": "FIF",
        ".fif.gz": "FIF",
        ".set": "EEGLAB",
    },
    "fmri": {".nii": "NIfTI", ".nii.gz": "NIfTI"},
}
"""Suffixes accepted per kind (case-insensitive) and the format each names.

Every one is a single, self-contained file. BrainVision (``.vhdr`` with its
``.vmrk`` and ``.eeg``) and EEGLAB with a separate ``.fdt`` need several files
and are refused with a sentence that says what to export instead.
"""

DEFAULT_MAX_UPLOAD_MB = 500.0
"""Largest accepted upload in MB (10^6 bytes) unless ``REHAB_MAX_UPLOAD_MB`` says otherwise."""

MAX_UPLOAD_MB_CEILING = 2147.0
"""The highest upload limit allowed: ``uploads.size`` is a 32-bit integer on PostgreSQL
(at most 2,147,483,647 bytes), and an upload is held in memory while it is checked."""

STALE_TMP_S = 3600.0
"""Age in seconds after which :meth:`Store.collect_garbage` treats a validation copy as stale."""

_EXPORT_HINT = "export the recording as EDF, FIF or rehab-eegemg text (.txt) and upload that"
_MULTI_FILE = {
    ".vhdr": "is a BrainVision header whose data lie in separate .vmrk and .eeg files, "
    "which cannot be uploaded as one file",
    ".vmrk": "is a BrainVision marker file; the recording needs its .vhdr and .eeg too, "
    "which cannot be uploaded as one file",
    ".eeg": "is the data part of a BrainVision recording, which needs its .vhdr and .vmrk "
    "too and cannot be uploaded as one file",
    ".fdt": "is the data part of an EEGLAB recording, which needs its .set too "
    "and cannot be uploaded as one file",
}

_SEX = ("F", "M")
_SIDES = ("left", "right")
_PSEUDONYM_MAX = 64
_NAME_MAX = 255
_MAX_ID = 2**31 - 1  # Integer primary keys are 32-bit on PostgreSQL; larger ids cannot exist


class RecordNotFound(LookupError):
    """No row with the asked-for id; the message is one plain sentence."""


class UploadTooLargeError(InputError):
    """The upload is larger than the store's limit (``REHAB_MAX_UPLOAD_MB``)."""


@dataclass(frozen=True)
class PatientRecord:
    """A patient as stored (pseudonym and clinical fields)."""

    id: int
    pseudonym: str
    age: int | None
    sex: str | None
    affected_side: str | None
    days_since_stroke: int | None
    fma_le_baseline: int | None
    created_at: _dt.datetime


@dataclass(frozen=True)
class UploadRecord:
    """A stored recording.

    ``path`` is absolute (the data folder joined with the stored relative
    path). ``duplicate`` is True when :meth:`Store.add_upload` found the same
    bytes already stored for this patient and kind and returned that record.
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


@dataclass(frozen=True)
class PredictionRecord:
    """A stored prediction: ``outputs`` is ``Prediction.to_dict()``."""

    id: int
    patient_id: int
    model_id: str
    weights_sha256: str
    preprocessing: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    created_at: _dt.datetime
    upload_ids: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class PatientDeletion:
    """What :meth:`Store.delete_patient` erased (counts and file paths, for the audit trail)."""

    patient_id: int
    pseudonym: str
    n_uploads: int
    n_predictions: int
    removed_files: tuple[Path, ...]

    def audit_details(self) -> dict[str, int]:
        """The counts a ``delete_patient`` audit event records (never the pseudonym)."""
        return {
            "n_uploads": self.n_uploads,
            "n_predictions": self.n_predictions,
            "n_files_removed": len(self.removed_files),
        }


def default_data_dir() -> Path:
    """``$REHAB_DATA_DIR``, else ``~/.local/share/rehab``."""
    env = os.environ.get("REHAB_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "rehab"


def _max_upload_mb(value: float | None) -> float:
    if value is None:
        env = os.environ.get("REHAB_MAX_UPLOAD_MB")
        if not env:
            return DEFAULT_MAX_UPLOAD_MB
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"REHAB_MAX_UPLOAD_MB={env!r} is not a number of megabytes.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"max_upload_mb={value!r} must be a positive number of megabytes.")
    if value > MAX_UPLOAD_MB_CEILING:
        raise ValueError(
            f"max_upload_mb={value!r} is above {MAX_UPLOAD_MB_CEILING:g} MB, the largest file "
            "size the database records (a 32-bit integer on PostgreSQL); choose a lower limit."
        )
    return float(value)


def _upload_suffix(kind: str, original_name: str) -> str:
    """The allowed suffix ``original_name`` ends with (lower case), else a refusal sentence."""
    lower = original_name.lower()
    allowed = UPLOAD_SUFFIXES[kind]
    for suffix in sorted(allowed, key=len, reverse=True):
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    what = "EEG-EMG recording" if kind == "signals" else "resting-state fMRI"
    for suffix, reason in _MULTI_FILE.items():
        if lower.endswith(suffix) and kind == "signals":
            raise UnknownFormatError(f"{original_name} {reason}; {_EXPORT_HINT}.")
    other = next(k for k in KINDS if k != kind)
    if any(lower.endswith(s) for s in UPLOAD_SUFFIXES[other]):
        expected = "an fMRI" if other == "fmri" else "an EEG-EMG"
        raise UnknownFormatError(
            f"{original_name} looks like {expected} file, not a {what}; "
            f"expected one of {', '.join(allowed)}."
        )
    raise UnknownFormatError(
        f"{original_name} is not a supported {what}; expected one of {', '.join(allowed)}."
    )


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


def _signal_qc(raw: Any) -> dict[str, Any]:
    from rehab_core.io import PAPER_CHANNELS

    types: dict[str, int] = {}
    for kind in raw.get_channel_types():
        types[kind] = types.get(kind, 0) + 1
    present = {name.lower() for name in raw.ch_names}
    sfreq = float(raw.info["sfreq"])
    return {
        "n_channels": len(raw.ch_names),
        "sfreq": sfreq,
        "duration_s": round(raw.n_times / sfreq, 3),
        "n_channels_by_type": dict(sorted(types.items())),
        "missing_paper_channels": [c for c in PAPER_CHANNELS if c.lower() not in present],
    }


def _fmri_qc(img: Any) -> dict[str, Any]:
    zooms = [float(z) for z in img.header.get_zooms()]
    shape = [int(n) for n in img.shape]
    tr = zooms[3]
    return {
        "shape": shape,
        "voxel_size_mm": [round(z, 4) for z in zooms[:3]],
        "tr_s": tr,
        "n_volumes": shape[3],
        "duration_s": round(shape[3] * tr, 3),
    }


def _validate(kind: str, path: Path) -> dict[str, Any]:
    """Read ``path`` with the real reader; return the QC summary (reader warnings included)."""
    from rehab_core.io import read_fmri, read_signals

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "signals":
            qc = _signal_qc(read_signals(path))
        else:
            qc = _fmri_qc(read_fmri(path))
    qc["warnings"] = [str(w.message) for w in caught]
    return qc


def _renamed(err: InputError, tmp_name: str, original_name: str) -> InputError:
    """The same refusal with the temporary file's name replaced by the uploaded name."""
    message = str(err).replace(tmp_name, original_name)
    try:
        new = type(err)(message)
    except TypeError:  # pragma: no cover - every InputError takes one message
        new = InputError(message)
    return new


class Store:
    """Patients, uploads and predictions in one database plus a content-addressed file folder.

    Use :func:`open_store` rather than this constructor.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL.
    data_dir : Path
        Folder for uploaded files (created if missing).
    max_upload_mb : float
        Largest accepted upload in MB.
    """

    def __init__(self, url: str, data_dir: Path, *, max_upload_mb: float) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.max_upload_mb = float(max_upload_mb)
        self._engine = db.create_db_engine(url)
        install_audit_guards(self._engine)  # the audit trail is append-only in the database
        self.url: str = self._engine.url.render_as_string(hide_password=True)
        self._sessions: Callable[[], Session] = sessionmaker(self._engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store(url={self.url!r}, data_dir={str(self.data_dir)!r})"

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (for inspection and tests)."""
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    # --- patients -------------------------------------------------------------------------

    def create_patient(
        self,
        pseudonym: str,
        *,
        age: int | None = None,
        sex: str | None = None,
        affected_side: str | None = None,
        days_since_stroke: int | None = None,
        fma_le_baseline: int | None = None,
    ) -> PatientRecord:
        """Create a patient.

        Parameters
        ----------
        pseudonym : str
            Unique label, 1-64 characters; never a real name.
        age : int | None
            Years, 18-120.
        sex : {"F", "M"} | None
        affected_side : {"left", "right"} | None
            The paretic body side.
        days_since_stroke : int | None
            Days from stroke to the baseline recordings, 0-3650.
        fma_le_baseline : int | None
            Lower-limb Fugl-Meyer at baseline, 0-34.

        Raises
        ------
        ValueError
            A field is invalid, or the pseudonym is taken (one sentence).
        """
        if not isinstance(pseudonym, str) or not pseudonym.strip():
            raise ValueError("The pseudonym must not be empty.")
        pseudonym = pseudonym.strip()
        if len(pseudonym) > _PSEUDONYM_MAX or not pseudonym.isprintable():
            raise ValueError(
                f"The pseudonym must be at most {_PSEUDONYM_MAX} printable characters; "
                f"got {len(pseudonym)}."
            )
        row = db.Patient(
            pseudonym=pseudonym,
            age=_whole("Age", age, 18, 120),
            sex=_choice("Sex", sex, _SEX),
            affected_side=_choice("The affected side", affected_side, _SIDES),
            days_since_stroke=_whole("Days since stroke", days_since_stroke, 0, 3650),
            fma_le_baseline=_whole("Baseline FMA-LE", fma_le_baseline, 0, 34),
            created_at=db.utc_now(),
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
                session.flush()
                return _patient_record(row)
        except IntegrityError:
            if self._patient_id(pseudonym) is not None:
                raise ValueError(
                    f"A patient with the pseudonym {pseudonym} already exists; "
                    "pick them in the list or choose another pseudonym."
                ) from None
            raise

    def list_patients(self) -> list[PatientRecord]:
        """Every patient, sorted by pseudonym."""
        with self._sessions() as session:
            rows = session.scalars(select(db.Patient).order_by(db.Patient.pseudonym))
            return [_patient_record(r) for r in rows]

    def get_patient(self, patient_id: int) -> PatientRecord:
        """The patient with this id; :class:`RecordNotFound` if there is none."""
        with self._sessions() as session:
            return _patient_record(self._patient_row(session, patient_id))

    def find_patient(self, pseudonym: str) -> PatientRecord | None:
        """The patient with this pseudonym (surrounding spaces ignored), or None."""
        pid = self._patient_id(pseudonym.strip())
        return None if pid is None else self.get_patient(pid)

    def _patient_id(self, pseudonym: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(select(db.Patient.id).where(db.Patient.pseudonym == pseudonym))

    @staticmethod
    def _patient_row(session: Session, patient_id: int) -> db.Patient:
        row = None
        if isinstance(patient_id, int) and not isinstance(patient_id, bool):
            if 0 < patient_id <= _MAX_ID:  # PostgreSQL refuses to compare larger ones
                row = session.get(db.Patient, patient_id)
        if row is None:
            raise RecordNotFound(f"There is no patient with id {patient_id!r}.")
        return row

    def delete_patient(self, patient_id: int) -> PatientDeletion:
        """Erase a patient: their row, uploads and predictions, then the files only they used.

        The rows go in one transaction; the files after it commits (a stored
        file can be shared by content with another patient's upload, and is
        then kept). A crash in between leaves files without rows, which
        :meth:`collect_garbage` removes, never rows without files. On SQLite the
        freed pages are overwritten (``secure_delete``) and the write-ahead log
        is checkpointed and truncated, so the erased values do not linger in
        the database files. Audit events that name the patient are kept: the
        trail outlives the records it speaks of.

        Returns
        -------
        PatientDeletion
            The pseudonym, how many uploads and predictions were deleted and
            which files were removed.

        Raises
        ------
        RecordNotFound
            No such patient.
        """
        with self._files_lock(exclusive=True):
            with self._sessions.begin() as session:
                row = self._patient_row(session, patient_id)
                pseudonym = row.pseudonym
                paths = set(
                    session.scalars(select(db.Upload.path).where(db.Upload.patient_id == row.id))
                )
                n_predictions = session.execute(
                    delete(db.Prediction).where(db.Prediction.patient_id == row.id)
                ).rowcount
                n_uploads = session.execute(
                    delete(db.Upload).where(db.Upload.patient_id == row.id)
                ).rowcount
                session.execute(delete(db.Patient).where(db.Patient.id == row.id))
            removed = self._remove_unreferenced(paths)
        self._truncate_sqlite_log()
        return PatientDeletion(
            patient_id=patient_id,
            pseudonym=pseudonym,
            n_uploads=n_uploads,
            n_predictions=n_predictions,
            removed_files=tuple(removed),
        )

    def collect_garbage(
        self, *, tmp_older_than_s: float = STALE_TMP_S, dry_run: bool = False
    ) -> list[Path]:
        """Remove stored files no upload row references, and stale temporary files.

        Such files are what a process killed mid-upload (after the file, before
        its row) or mid-deletion (after the rows, before the files) leaves
        behind. Under ``data_dir/files`` every file no row names goes, including
        unfinished atomic writes (uploads in progress hold the files lock, so
        none is running); under ``data_dir/tmp`` the validation copies older
        than ``tmp_older_than_s`` (a younger one may belong to an upload being
        checked right now).

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
        files = self.data_dir / "files"
        with self._files_lock(exclusive=True):
            if files.is_dir():
                with self._sessions() as session:
                    referenced = set(session.scalars(select(db.Upload.path).distinct()))
                for path in sorted(files.rglob("*")):
                    rel = path.relative_to(self.data_dir).as_posix()
                    if rel not in referenced and path.is_file() and not path.is_symlink():
                        if not dry_run:
                            path.unlink(missing_ok=True)
                            fsync_dir(path.parent)
                        removed.append(path)
        tmp = self.data_dir / "tmp"
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

    def _truncate_sqlite_log(self) -> None:
        """SQLite: copy the write-ahead log into the database and empty it (best effort)."""
        if self._engine.dialect.name != "sqlite":
            return
        with self._engine.connect() as conn:
            # a reader holding an old snapshot makes it return busy=1; the next checkpoint does it
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    # --- uploads --------------------------------------------------------------------------

    def add_upload(
        self,
        patient_id: int,
        kind: str,
        original_name: str,
        data: bytes | str | os.PathLike[str],
    ) -> UploadRecord:
        """Validate and store one recording for a patient.

        Parameters
        ----------
        patient_id : int
        kind : {"signals", "fmri"}
        original_name : str
            The name the user uploaded the file under; only its suffix
            (:data:`UPLOAD_SUFFIXES`) is used, and it is kept as metadata.
        data : bytes | str | os.PathLike
            The file's bytes, or the path of a file to copy.

        Returns
        -------
        UploadRecord
            The new record, or the existing one (``duplicate=True``) if the same
            bytes were already stored for this patient and kind.

        Raises
        ------
        RecordNotFound
            No such patient.
        InputError
            The file was refused (unsupported suffix, too large, unreadable,
            too short...); nothing was stored.
        """
        from rehab_core._validation import check_option

        check_option("kind", kind, KINDS)
        name = _clean_name(original_name)
        suffix = _upload_suffix(kind, name)
        with self._sessions() as session:
            self._patient_row(session, patient_id)
        content = _upload_bytes(data, name, self.max_upload_mb)
        # names and dates leave the header before anything is hashed, read or stored
        try:
            content, deidentified = deidentify_bytes(kind, name, content)
        except InputError:  # the reader's own refusal says best what is wrong; else this one
            self._validated_qc(kind, suffix, name, content, hashlib.sha256(content).hexdigest())
            raise
        sha = hashlib.sha256(content).hexdigest()
        existing = self._find_upload(patient_id, kind, sha)
        if existing is not None:
            return existing
        qc = self._validated_qc(kind, suffix, name, content, sha)
        if deidentified["cleared"]:
            qc["deidentified"] = deidentified["cleared"]
        rel = Path("files") / sha[:2] / f"{sha}{suffix}"
        target = self.data_dir / rel
        row = db.Upload(
            patient_id=patient_id,
            kind=kind,
            original_name=name,
            path=rel.as_posix(),
            size=len(content),
            sha256=sha,
            format=UPLOAD_SUFFIXES[kind][suffix],
            qc=qc,
            created_at=db.utc_now(),
        )
        wrote = False
        try:
            # shared: no deletion may find the file unreferenced and remove it before this row is in
            with self._files_lock(exclusive=False):
                wrote = self._write_content(target, content)
                with self._sessions.begin() as session:
                    session.add(row)
                    session.flush()
                    return self._upload_record(row)
        except BaseException as err:
            if wrote:
                self._remove_if_unreferenced(rel)
            if isinstance(err, IntegrityError):
                # a concurrent upload of the same bytes for this patient won the race
                existing = self._find_upload(patient_id, kind, sha)
                if existing is not None:
                    return existing
            raise

    def _validated_qc(
        self, kind: str, suffix: str, name: str, content: bytes, sha: str
    ) -> dict[str, Any]:
        """Read a temporary copy with the real reader; the QC summary, or the reader's refusal."""
        tmp_root = self.data_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp_name = f"upload-{sha[:16]}{suffix}"
        with tempfile.TemporaryDirectory(dir=tmp_root) as folder:
            tmp_path = Path(folder) / tmp_name
            tmp_path.write_bytes(content)
            try:
                qc = _validate(kind, tmp_path)
            except InputError as err:
                if suffix == ".set" and isinstance(err.__cause__, FileNotFoundError):
                    raise UnknownFormatError(
                        f"{name} is an EEGLAB recording whose data lie in a separate .fdt "
                        f"file, which cannot be uploaded as one file; {_EXPORT_HINT}."
                    ) from err
                raise _renamed(err, tmp_name, name) from err
        qc["warnings"] = [w.replace(tmp_name, name) for w in qc["warnings"]]
        return qc

    @staticmethod
    def _write_content(target: Path, content: bytes) -> bool:
        """Write the content-addressed file unless it is there already; True if written now."""
        if target.is_file() and target.stat().st_size == len(content):
            return False
        created_dir = not target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        if created_dir:
            fsync_dir(target.parent.parent)
        write_atomic(target, content)
        fsync_dir(target.parent)
        return True

    def _remove_if_unreferenced(self, rel: Path) -> None:
        with self._files_lock(exclusive=True):
            self._remove_unreferenced({rel.as_posix()})

    @contextlib.contextmanager
    def _files_lock(self, *, exclusive: bool) -> Iterator[None]:
        """Hold ``data_dir/.files.lock`` (``flock``: across threads and processes on this host)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
            yield
            return
        fd = os.open(self.data_dir / ".files.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _stored_file(self, rel: str) -> Path | None:
        """``data_dir / rel`` if ``rel`` names a file under ``data_dir/files``, else None."""
        root = (self.data_dir / "files").resolve()
        path = (self.data_dir / rel).resolve()
        return path if path.is_relative_to(root) and path != root else None

    def _remove_unreferenced(self, rels: set[str]) -> list[Path]:
        """Remove the files of ``rels`` that no upload row references; the paths removed.

        Call with the exclusive files lock held, after the rows that referenced
        them are committed as deleted.
        """
        if not rels:
            return []
        with self._sessions() as session:
            kept = set(
                session.scalars(select(db.Upload.path).where(db.Upload.path.in_(sorted(rels))))
            )
        removed = []
        for rel in sorted(rels - kept):
            path = self._stored_file(rel)
            if path is None or not path.is_file():
                continue
            path.unlink(missing_ok=True)
            fsync_dir(path.parent)
            removed.append(path)
        return removed

    def _find_upload(self, patient_id: int, kind: str, sha: str) -> UploadRecord | None:
        with self._sessions() as session:
            row = session.scalar(
                select(db.Upload).where(
                    db.Upload.patient_id == patient_id,
                    db.Upload.kind == kind,
                    db.Upload.sha256 == sha,
                )
            )
            return None if row is None else self._upload_record(row, duplicate=True)

    def uploads(self, patient_id: int, kind: str | None = None) -> list[UploadRecord]:
        """A patient's uploads (of one kind, or all), newest first."""
        if kind is not None:
            from rehab_core._validation import check_option

            check_option("kind", kind, KINDS)
        with self._sessions() as session:
            self._patient_row(session, patient_id)
            query = select(db.Upload).where(db.Upload.patient_id == patient_id)
            if kind is not None:
                query = query.where(db.Upload.kind == kind)
            query = query.order_by(db.Upload.created_at.desc(), db.Upload.id.desc())
            return [self._upload_record(r) for r in session.scalars(query)]

    def latest_upload(self, patient_id: int, kind: str) -> UploadRecord | None:
        """The patient's newest upload of ``kind``, or None."""
        found = self.uploads(patient_id, kind)
        return found[0] if found else None

    def _upload_record(self, row: db.Upload, *, duplicate: bool = False) -> UploadRecord:
        return UploadRecord(
            id=row.id,
            patient_id=row.patient_id,
            kind=row.kind,
            original_name=row.original_name,
            path=self.data_dir / row.path,
            size=row.size,
            sha256=row.sha256,
            format=row.format,
            qc=dict(row.qc),
            created_at=row.created_at,
            duplicate=duplicate,
        )

    # --- predictions ----------------------------------------------------------------------

    def add_prediction(
        self, patient_id: int, outputs: dict[str, Any], *, upload_ids: list[int]
    ) -> PredictionRecord:
        """Store a prediction (``Prediction.to_dict()``) made from some of the patient's uploads.

        ``model_id``, ``weights_sha256``, ``preprocessing`` and ``inputs`` are
        taken from ``outputs``; NaN and infinities are stored as ``null``.

        Raises
        ------
        RecordNotFound
            No such patient.
        ValueError
            ``outputs`` lacks ``model_id``/``weights_sha256``, or an upload id is
            not one of this patient's uploads.
        """
        from rehab_core._json import to_jsonable

        if not isinstance(outputs, dict):
            raise TypeError(f"outputs must be a dict, got {type(outputs).__name__}.")
        missing = [k for k in ("model_id", "weights_sha256") if not outputs.get(k)]
        if missing:
            raise ValueError(f"The prediction's outputs lack {' and '.join(missing)}.")
        clean = to_jsonable(outputs)
        ids = [int(i) for i in upload_ids]
        with self._sessions.begin() as session:
            self._patient_row(session, patient_id)
            if ids:
                owned = set(
                    session.scalars(
                        select(db.Upload.id).where(
                            db.Upload.id.in_(ids), db.Upload.patient_id == patient_id
                        )
                    )
                )
                foreign = [i for i in ids if i not in owned]
                if foreign:
                    raise ValueError(
                        f"Upload ids {foreign} are not uploads of patient {patient_id}."
                    )
            row = db.Prediction(
                patient_id=patient_id,
                model_id=str(clean["model_id"]),
                weights_sha256=str(clean["weights_sha256"]),
                preprocessing=clean.get("preprocessing") or {},
                inputs=clean.get("inputs") or {},
                upload_ids=ids,
                outputs=clean,
                created_at=db.utc_now(),
            )
            session.add(row)
            session.flush()
            return _prediction_record(row)

    def predictions(self, patient_id: int) -> list[PredictionRecord]:
        """A patient's predictions, newest first."""
        with self._sessions() as session:
            self._patient_row(session, patient_id)
            rows = session.scalars(
                select(db.Prediction)
                .where(db.Prediction.patient_id == patient_id)
                .order_by(db.Prediction.created_at.desc(), db.Prediction.id.desc())
            )
            return [_prediction_record(r) for r in rows]

    # --- demo -----------------------------------------------------------------------------

    def create_demo_patient(
        self, seed: int = 42, *, minutes: float = 1.0, volumes: int = 60
    ) -> PatientRecord:
        """Create the synthetic patient ``DEMO-<seed>`` with both recordings stored.

        The recordings come from :func:`rehab_core.demo.generate_patient`
        (``minutes`` of EEG-EMG, ``volumes`` fMRI volumes at TR 2 s); the
        clinical fields from its participants row. Calling it again returns
        the same patient, completing any upload a previous call did not store.
        """
        from rehab_core.demo import generate_patient

        pseudonym = f"DEMO-{seed}"
        patient = self.find_patient(pseudonym)
        if patient is not None and all(self.latest_upload(patient.id, k) for k in KINDS):
            return patient
        tmp_root = self.data_dir / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tmp_root) as folder:
            files = generate_patient(folder, seed=seed, minutes=minutes, volumes=volumes)
            if patient is None:
                row = files.participant
                try:
                    patient = self.create_patient(
                        pseudonym,
                        age=row["age"],
                        sex=row["sex"],
                        affected_side=row["affected_side"],
                        days_since_stroke=row["days_since_stroke"],
                        fma_le_baseline=row["fma_le_baseline"],
                    )
                except ValueError:  # created meanwhile by another session
                    patient = self.find_patient(pseudonym)
                    if patient is None:
                        raise
            for kind, path in (("signals", files.signals_path), ("fmri", files.fmri_path)):
                self.add_upload(patient.id, kind, path.name, path)
        return patient


def _whole(label: str, value: Any, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{label} must be a whole number from {low} to {high}; got {value!r}.")
    return value


def _choice(label: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in allowed:
        raise ValueError(f"{label} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


def _patient_record(row: db.Patient) -> PatientRecord:
    return PatientRecord(
        id=row.id,
        pseudonym=row.pseudonym,
        age=row.age,
        sex=row.sex,
        affected_side=row.affected_side,
        days_since_stroke=row.days_since_stroke,
        fma_le_baseline=row.fma_le_baseline,
        created_at=row.created_at,
    )


def _prediction_record(row: db.Prediction) -> PredictionRecord:
    return PredictionRecord(
        id=row.id,
        patient_id=row.patient_id,
        model_id=row.model_id,
        weights_sha256=row.weights_sha256,
        preprocessing=dict(row.preprocessing),
        inputs=dict(row.inputs),
        outputs=dict(row.outputs),
        created_at=row.created_at,
        upload_ids=tuple(row.upload_ids),
    )


def open_store(
    url: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    max_upload_mb: float | None = None,
) -> Store:
    """Open (and create if needed) the dashboard's store.

    Parameters
    ----------
    url : str | None
        SQLAlchemy URL; else ``$REHAB_DATABASE_URL``; else
        ``sqlite:///<data_dir>/rehab.db``.
    data_dir : path | None
        Folder for uploaded files (and the default SQLite database); else
        ``$REHAB_DATA_DIR``; else ``~/.local/share/rehab``. Created if missing.
    max_upload_mb : float | None
        Largest accepted upload; else ``$REHAB_MAX_UPLOAD_MB``; else 500.

    Returns
    -------
    Store
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    if url is None:
        url = os.environ.get("REHAB_DATABASE_URL") or f"sqlite:///{folder / 'rehab.db'}"
    return Store(url, folder, max_upload_mb=_max_upload_mb(max_upload_mb))
