"""Stored predictions: the full output, the model and weights, and the uploads it read."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from rehab_core._json import to_jsonable
from rehab_core.storage import db
from rehab_core.storage.patients import patient_row

__all__ = ["PredictionRecord", "add_prediction", "list_predictions"]


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


def _record(row: db.Prediction) -> PredictionRecord:
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


def add_prediction(
    sessions: sessionmaker[Session],
    patient_id: int,
    outputs: dict[str, Any],
    *,
    upload_ids: list[int],
) -> PredictionRecord:
    """Store a prediction; see :meth:`rehab_core.storage.Store.add_prediction`."""
    if not isinstance(outputs, dict):
        raise TypeError(f"outputs must be a dict, got {type(outputs).__name__}.")
    missing = [k for k in ("model_id", "weights_sha256") if not outputs.get(k)]
    if missing:
        raise ValueError(f"The prediction's outputs lack {' and '.join(missing)}.")
    clean = to_jsonable(outputs)
    ids = [int(i) for i in upload_ids]
    with sessions.begin() as session:
        patient_row(session, patient_id)
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
                raise ValueError(f"Upload ids {foreign} are not uploads of patient {patient_id}.")
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
        return _record(row)


def list_predictions(sessions: sessionmaker[Session], patient_id: int) -> list[PredictionRecord]:
    """A patient's predictions, newest first."""
    with sessions() as session:
        patient_row(session, patient_id)
        rows = session.scalars(
            select(db.Prediction)
            .where(db.Prediction.patient_id == patient_id)
            .order_by(db.Prediction.created_at.desc(), db.Prediction.id.desc())
        )
        return [_record(r) for r in rows]
