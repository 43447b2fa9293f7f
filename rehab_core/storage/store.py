"""The store: one facade over the dashboard's database and its content-addressed file folder.

``open_store()`` returns a :class:`Store` over one database and one data
folder::

    DATA_DIR/
        rehab.db                      SQLite database (unless REHAB_DATABASE_URL says otherwise)
        files/<sha[:2]>/<sha><suffix> every accepted recording, stored once by content
        tmp/                          working copies, removed after each upload
        .files.lock                   uploads share it; deletions and collect_garbage hold it alone

Each part lives in its own module; :class:`Store` only holds the engine, the
sessions and the file store, and hands each call to them:

* :mod:`~rehab_core.storage.config`: data folder, database URL, upload limit;
* :mod:`~rehab_core.storage.db`: the tables, and the audit trail's triggers;
* :mod:`~rehab_core.storage.files`: the content-addressed files, their lock,
  garbage collection (crash safety: a file is complete before its row exists,
  a row is deleted before its file);
* :mod:`~rehab_core.storage.patients`, :mod:`~rehab_core.storage.uploads`,
  :mod:`~rehab_core.storage.predictions`: the records.

Records returned are frozen dataclasses, detached from any database session.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from rehab_core.storage import db
from rehab_core.storage import patients as _patients
from rehab_core.storage import predictions as _predictions
from rehab_core.storage import uploads as _uploads
from rehab_core.storage.config import (
    data_dir_setting,
    database_url_setting,
    max_upload_mb_setting,
)
from rehab_core.storage.files import STALE_TMP_S, FileStore
from rehab_core.storage.patients import PatientDeletion, PatientRecord
from rehab_core.storage.predictions import PredictionRecord
from rehab_core.storage.uploads import UploadRecord

__all__ = ["Store", "open_store"]


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
        self.max_upload_mb = float(max_upload_mb)
        self.files = FileStore(  # creates the folder
            self.data_dir, lambda paths: _uploads.referenced_paths(self._sessions, paths)
        )
        # the tables, and the triggers that make the audit trail append-only
        self._engine = db.create_db_engine(url)
        self.url: str = self._engine.url.render_as_string(hide_password=True)
        self._sessions: sessionmaker[Session] = sessionmaker(self._engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store(url={self.url!r}, data_dir={str(self.data_dir)!r})"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for inspection and tests)."""
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    @contextlib.contextmanager
    def temp_folder(self) -> Iterator[Path]:
        """A fresh working folder under ``data_dir/tmp``, removed on exit.

        One left behind by a killed process is removed by :meth:`collect_garbage`.
        """
        with self.files.temp_folder() as folder:
            yield folder

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
        return _patients.create_patient(
            self._sessions,
            pseudonym,
            age=age,
            sex=sex,
            affected_side=affected_side,
            days_since_stroke=days_since_stroke,
            fma_le_baseline=fma_le_baseline,
        )

    def list_patients(self) -> list[PatientRecord]:
        """Every patient, sorted by pseudonym."""
        return _patients.list_patients(self._sessions)

    def get_patient(self, patient_id: int) -> PatientRecord:
        """The patient with this id; :class:`~rehab_core.storage.RecordNotFound` if none."""
        return _patients.get_patient(self._sessions, patient_id)

    def find_patient(self, pseudonym: str) -> PatientRecord | None:
        """The patient with this pseudonym (surrounding spaces ignored), or None."""
        return _patients.find_patient(self._sessions, pseudonym)

    def delete_patient(self, patient_id: int) -> PatientDeletion:
        """Erase a patient: their row, uploads and predictions, then the files only they used.

        The rows go in one transaction; the files after it commits (a stored
        file can be shared by content with another patient's upload, and is
        then kept). A crash in between leaves files without rows, which
        :meth:`collect_garbage` removes, never rows without files. On SQLite the
        freed pages are overwritten (``secure_delete``) and the write-ahead log
        is checkpointed and truncated, so the erased values do not linger in
        the database files. Audit events that name the patient are kept: the
        trail outlives the records it speaks of. Nothing is audited here:
        :func:`rehab_core.workflows.patients.delete_patient` records who did it.

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
        return _patients.delete_patient(self._sessions, self.files, patient_id)

    def collect_garbage(
        self, *, tmp_older_than_s: float = STALE_TMP_S, dry_run: bool = False
    ) -> list[Path]:
        """Remove stored files no upload row references, and stale working copies.

        See :meth:`rehab_core.storage.files.FileStore.collect_garbage`; returns
        what was removed (or would be, with ``dry_run``), sorted.
        """
        return self.files.collect_garbage(tmp_older_than_s=tmp_older_than_s, dry_run=dry_run)

    # --- uploads --------------------------------------------------------------------------

    def add_upload(
        self,
        patient_id: int,
        kind: str,
        original_name: str,
        data: bytes | str | os.PathLike[str],
    ) -> UploadRecord:
        """Check and store one recording for a patient (nothing is audited here).

        The file is de-identified, read with the real reader
        (:func:`rehab_core.io.upload_check.check_upload`) and kept once by
        content; see :mod:`rehab_core.storage.uploads` for the rules.

        Parameters
        ----------
        patient_id : int
        kind : {"signals", "fmri"}
        original_name : str
            The name the user uploaded the file under; only its suffix
            (:data:`~rehab_core.storage.UPLOAD_SUFFIXES`) is used, and it is
            kept as metadata.
        data : bytes | str | os.PathLike
            The file's bytes, or the path of a file to copy.

        Returns
        -------
        UploadRecord
            The new record, or the existing one (``duplicate=True``) if the same
            bytes were already stored for this patient and kind; that one is then
            the latest of its kind again (its ``created_at`` is now), since a
            user who uploads it again means to use it.

        Raises
        ------
        RecordNotFound
            No such patient.
        InputError
            The file was refused (unsupported suffix, too large, unreadable,
            too short...); nothing was stored.
        """
        return _uploads.add_upload(
            self._sessions,
            self.files,
            patient_id,
            kind,
            original_name,
            data,
            max_upload_mb=self.max_upload_mb,
        )

    def set_channel_map(
        self, upload_id: int, mapping: dict[str, str], missing_paper_channels: list[str]
    ) -> UploadRecord:
        """Store an EEG-EMG upload's channel map (nothing is audited here).

        See :func:`rehab_core.storage.uploads.set_channel_map`.
        """
        return _uploads.set_channel_map(
            self._sessions, self.files, upload_id, mapping, missing_paper_channels
        )

    def uploads(self, patient_id: int, kind: str | None = None) -> list[UploadRecord]:
        """A patient's uploads (of one kind, or all), newest first."""
        return _uploads.list_uploads(self._sessions, self.files, patient_id, kind)

    def latest_upload(self, patient_id: int, kind: str) -> UploadRecord | None:
        """The patient's newest upload of ``kind``, or None."""
        found = self.uploads(patient_id, kind)
        return found[0] if found else None

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
        return _predictions.add_prediction(
            self._sessions, patient_id, outputs, upload_ids=upload_ids
        )

    def predictions(self, patient_id: int) -> list[PredictionRecord]:
        """A patient's predictions, newest first."""
        return _predictions.list_predictions(self._sessions, patient_id)


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
    folder = data_dir_setting(data_dir)
    return Store(
        database_url_setting(url, folder),
        folder,
        max_upload_mb=max_upload_mb_setting(max_upload_mb),
    )
