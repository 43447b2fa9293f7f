"""Patient records: a pseudonym and the clinical fields, created, found and erased.

Functions take the store's ``sessions`` (a :class:`sqlalchemy.orm.sessionmaker`)
and return frozen records detached from any session; the
:class:`~rehab_core.storage.Store` facade is how the rest of the package calls them.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from rehab_core._validation import check_int, check_option
from rehab_core.storage import db
from rehab_core.storage.errors import RecordNotFound
from rehab_core.storage.files import FileStore

__all__ = [
    "PatientRecord",
    "PatientDeletion",
    "create_patient",
    "list_patients",
    "get_patient",
    "find_patient",
    "patient_row",
    "delete_patient",
]

_SEX = ("F", "M")
_SIDES = ("left", "right")
_PSEUDONYM_MAX = 64
_MAX_ID = 2**31 - 1  # Integer primary keys are 32-bit on PostgreSQL; larger ids cannot exist


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
class PatientDeletion:
    """What :func:`delete_patient` erased (counts and file paths, for the audit trail)."""

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


def _whole_field(label: str, value: Any, low: int, high: int) -> int | None:
    """A form's whole number or None; a float without fraction counts (number inputs give them)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return check_int(label, value, low=low, high=high)
    except (TypeError, ValueError):  # the clinician's sentence, naming the form's field
        raise ValueError(
            f"{label} must be a whole number from {low} to {high}; got {value!r}."
        ) from None


def _choice_field(label: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    """A form's choice or None."""
    if value is None:
        return None
    try:
        return check_option(label, value, allowed)
    except ValueError:  # the clinician's sentence, naming the form's field
        raise ValueError(f"{label} must be one of {', '.join(allowed)}; got {value!r}.") from None


def _record(row: db.Patient) -> PatientRecord:
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


def patient_row(session: Session, patient_id: int) -> db.Patient:
    """The patient's row in ``session``; :class:`RecordNotFound` if there is none."""
    row = None
    if isinstance(patient_id, int) and not isinstance(patient_id, bool):
        if 0 < patient_id <= _MAX_ID:  # PostgreSQL refuses to compare larger ones
            row = session.get(db.Patient, patient_id)
    if row is None:
        raise RecordNotFound(f"There is no patient with id {patient_id!r}.")
    return row


def _patient_id(sessions: sessionmaker[Session], pseudonym: str) -> int | None:
    with sessions() as session:
        return session.scalar(select(db.Patient.id).where(db.Patient.pseudonym == pseudonym))


def create_patient(
    sessions: sessionmaker[Session],
    pseudonym: str,
    *,
    age: int | None = None,
    sex: str | None = None,
    affected_side: str | None = None,
    days_since_stroke: int | None = None,
    fma_le_baseline: int | None = None,
) -> PatientRecord:
    """Create a patient; see :meth:`rehab_core.storage.Store.create_patient`."""
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
        age=_whole_field("Age", age, 18, 120),
        sex=_choice_field("Sex", sex, _SEX),
        affected_side=_choice_field("The affected side", affected_side, _SIDES),
        days_since_stroke=_whole_field("Days since stroke", days_since_stroke, 0, 3650),
        fma_le_baseline=_whole_field("Baseline FMA-LE", fma_le_baseline, 0, 34),
        created_at=db.utc_now(),
    )
    try:
        with sessions.begin() as session:
            session.add(row)
            session.flush()
            return _record(row)
    except IntegrityError:
        if _patient_id(sessions, pseudonym) is not None:
            raise ValueError(
                f"A patient with the pseudonym {pseudonym} already exists; "
                "pick them in the list or choose another pseudonym."
            ) from None
        raise


def list_patients(sessions: sessionmaker[Session]) -> list[PatientRecord]:
    """Every patient, sorted by pseudonym."""
    with sessions() as session:
        rows = session.scalars(select(db.Patient).order_by(db.Patient.pseudonym))
        return [_record(r) for r in rows]


def get_patient(sessions: sessionmaker[Session], patient_id: int) -> PatientRecord:
    """The patient with this id; :class:`RecordNotFound` if there is none."""
    with sessions() as session:
        return _record(patient_row(session, patient_id))


def find_patient(sessions: sessionmaker[Session], pseudonym: str) -> PatientRecord | None:
    """The patient with this pseudonym (surrounding spaces ignored), or None."""
    pid = _patient_id(sessions, pseudonym.strip())
    return None if pid is None else get_patient(sessions, pid)


def delete_patient(
    sessions: sessionmaker[Session], files: FileStore, patient_id: int
) -> PatientDeletion:
    """Erase a patient's rows in one transaction, then the files only they used.

    See :meth:`rehab_core.storage.Store.delete_patient`.
    """
    with files.lock(exclusive=True):
        with sessions.begin() as session:
            row = patient_row(session, patient_id)
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
        removed = files.remove_unreferenced(paths)
    _truncate_sqlite_log(sessions)
    return PatientDeletion(
        patient_id=patient_id,
        pseudonym=pseudonym,
        n_uploads=n_uploads,
        n_predictions=n_predictions,
        removed_files=tuple(removed),
    )


def _truncate_sqlite_log(sessions: sessionmaker[Session]) -> None:
    """SQLite: copy the write-ahead log into the database and empty it (best effort)."""
    with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            return
        # a reader holding an old snapshot makes it return busy=1; the next checkpoint does it
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
