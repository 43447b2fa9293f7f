"""Model versions: every bundle a training job produced, compared, and one promoted per model.

A finished job registers one :class:`VersionRecord` per fusion model it
trained (``shufflenet_lstm``...). The prediction page loads, for each model
id, the *promoted* version if there is one and the shipped bundle under
``weights/`` otherwise (:func:`model_path`). Promotion is recorded with who
did it, on the version row and in the audit trail, in one transaction.

Promotion makes a version every clinician's default, so it takes two people
or an administrator (:func:`promotion_refusal`): an active administrator, or
an active researcher who did not train it; and never a trial run (a bundle
trained with ``max_train_batches``, one batch per epoch), whoever asks.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rehab_core.security import get_user, record_event, role_allows
from rehab_core.storage import db

if TYPE_CHECKING:
    from rehab_core.storage import BundleManifest, Store

__all__ = [
    "imagenet_fallback",
    "VersionRecord",
    "bundle_metrics",
    "register_bundle",
    "list_versions",
    "shipped_versions",
    "get_version",
    "promote_version",
    "promotion_refusal",
    "PromotionRefused",
    "revert_to_shipped",
    "default_version",
    "model_path",
    "TRIAL_LABEL",
    "is_trial_settings",
    "is_trial_version",
]


@dataclass(frozen=True)
class VersionRecord:
    """One weights bundle that can serve predictions.

    ``id`` is None for a bundle shipped under ``weights/`` (not in the
    database); ``path`` is absolute.
    """

    id: int | None
    model_id: str
    path: Path
    weights_sha256: str
    job_id: int | None
    created_at: _dt.datetime | None
    created_by: str | None
    metrics: dict[str, Any]
    is_default: bool
    promoted_at: _dt.datetime | None
    promoted_by: str | None

    @property
    def label(self) -> str:
        """How the page names it: ``v3 (job 2)`` or ``shipped``."""
        if self.id is None:
            return "shipped"
        return f"v{self.id}" + (f" (job {self.job_id})" if self.job_id is not None else "")

    @property
    def fusion_auc(self) -> float | None:
        """The fused model's ROC AUC on its evaluation patients, if recorded."""
        row = next((r for r in self.metrics.get("rows", []) if r["group"] == "fusion"), None)
        return None if row is None else row.get("roc_auc")


def bundle_metrics(manifest: BundleManifest) -> dict[str, Any]:
    """The figures a version is compared by, from a bundle manifest's evaluation tables.

    Returns
    -------
    dict
        ``evaluated_on``, ``bayes_ceiling_auc`` and ``rows``: one per table
        row of this model (LSTM, its image backbone, the fusion) with ``name``,
        ``group``, ``n``, the estimate and 95 % interval of ``roc_auc``,
        ``accuracy``, ``recall``, ``precision``, ``f1``, and ``cv_auc``.
    """
    metrics = manifest.metrics
    tables = metrics.tables if metrics is not None else {}
    display = manifest.display_name
    image = display.removesuffix("_LSTM")
    rows = []
    for key in ("table1", "table2", "table3"):
        for ev in (tables.get(key) or {}).get("evaluations", []):
            if ev["name"] not in ("LSTM", image, display):
                continue
            row: dict[str, Any] = {
                "name": ev["name"],
                "group": ev["group"],
                "n": ev.get("n"),
                "cv_auc": ev.get("cv_auc"),
            }
            for name in ("roc_auc", "accuracy", "recall", "precision", "f1"):
                m = ev["metrics"].get(name) or {}
                row[name] = m.get("estimate")
                row[f"{name}_ci"] = [m.get("low"), m.get("high")]
            rows.append(row)
    return {
        "evaluated_on": metrics.evaluated_on if metrics is not None else None,
        "bayes_ceiling_auc": metrics.bayes_ceiling_auc if metrics is not None else None,
        "fma": metrics.fma if metrics is not None else None,
        "rows": rows,
    }


def _record(row: db.ModelVersion, data_dir: Path) -> VersionRecord:
    path = Path(row.path)
    return VersionRecord(
        id=row.id,
        model_id=row.model_id,
        path=path if path.is_absolute() else data_dir / path,
        weights_sha256=row.weights_sha256,
        job_id=row.job_id,
        created_at=row.created_at,
        created_by=row.created_by,
        metrics=dict(row.metrics or {}),
        is_default=bool(row.is_default),
        promoted_at=row.promoted_at,
        promoted_by=row.promoted_by,
    )


def register_bundle(
    session: Session,
    bundle: str | Path,
    *,
    data_dir: Path,
    job_id: int | None = None,
    created_by: str | None = None,
) -> db.ModelVersion:
    """Add a version row for a bundle folder (in the caller's transaction).

    The bundle's integrity is checked first (:func:`rehab_core.storage.load_bundle`
    verifies every file against the manifest's hashes); a bundle under
    ``data_dir`` is recorded relative to it.
    """
    from rehab_core.storage import load_bundle

    bundle = Path(bundle).resolve()
    manifest = load_bundle(bundle).manifest
    try:
        stored = str(bundle.relative_to(Path(data_dir).resolve()))
    except ValueError:
        stored = str(bundle)
    row = db.ModelVersion(
        model_id=manifest.model_id,
        path=stored,
        weights_sha256=manifest.sha256,
        job_id=job_id,
        created_by=created_by,
        metrics=bundle_metrics(manifest),
    )
    session.add(row)
    session.flush()
    return row


def list_versions(store: Store, model_id: str | None = None) -> list[VersionRecord]:
    """Registered versions, newest first (optionally of one model id)."""
    with Session(store.engine) as session:
        query = select(db.ModelVersion).order_by(db.ModelVersion.id.desc())
        if model_id is not None:
            query = query.where(db.ModelVersion.model_id == model_id)
        return [_record(row, store.data_dir) for row in session.scalars(query)]


def shipped_versions(weights_dir: str | Path | None = None) -> list[VersionRecord]:
    """The bundles under the shipped weights folder, as versions without a database id."""
    from rehab_core.prediction import default_weights_dir
    from rehab_core.storage import find_bundles, read_manifest

    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    out = []
    for path in find_bundles(folder):
        manifest = read_manifest(path)
        out.append(
            VersionRecord(
                id=None,
                model_id=manifest.model_id,
                path=path,
                weights_sha256=manifest.sha256,
                job_id=None,
                created_at=None,
                created_by=None,
                metrics=bundle_metrics(manifest),
                is_default=False,
                promoted_at=None,
                promoted_by=None,
            )
        )
    return out


def get_version(store: Store, version_id: int) -> VersionRecord:
    """One registered version; :class:`~rehab_core.storage.RecordNotFound` if absent."""
    from rehab_core.storage import RecordNotFound

    with Session(store.engine) as session:
        row = session.get(db.ModelVersion, int(version_id))
        if row is None:
            raise RecordNotFound(f"There is no model version {version_id}.")
        return _record(row, store.data_dir)


class PromotionRefused(PermissionError):
    """A promotion this account may not make; the message is one sentence."""


def _is_trial(manifest: BundleManifest | None) -> bool:
    settings = manifest.training.settings if manifest is not None else {}
    return settings.get("max_train_batches") is not None


TRIAL_LABEL = "trial, not for patients"
"""How trial runs (one batch per epoch) and their versions are labelled wherever listed."""


def is_trial_version(version: VersionRecord) -> bool:
    """Whether ``version`` came from a trial run (its manifest's ``max_train_batches``).

    A bundle whose manifest cannot be read counts as a trial: it is not for patients either.
    """
    from rehab_core.storage import WeightsError, read_manifest

    try:
        return _is_trial(read_manifest(version.path))
    except WeightsError:
        return True


def is_trial_settings(settings: dict[str, Any]) -> bool:
    """Whether a job's stored settings (``job.settings``) are a trial run."""
    return (settings.get("experiment") or {}).get("max_train_batches") is not None


def promotion_refusal(
    store: Store,
    version: VersionRecord,
    actor: str | None,
    *,
    manifest: BundleManifest | None = None,
) -> str | None:
    """Why ``actor`` may not promote ``version`` (one sentence), or None if they may.

    Parameters
    ----------
    manifest : BundleManifest | None
        The bundle's manifest, verified by the caller; else ``manifest.json``
        is read without the tensors (enough to explain a disabled button).
    """
    account = None if actor is None else get_user(store, actor)
    if account is None or not account.active or not role_allows(account.role, "researcher"):
        return "Only an active researcher or administrator can promote a model version."
    if manifest is None:
        from rehab_core.storage import WeightsError, read_manifest

        try:
            manifest = read_manifest(version.path)
        except (OSError, WeightsError):
            manifest = None  # promote_version refuses a damaged bundle anyway
    if _is_trial(manifest):
        return (
            f"{version.label} is a trial run (one batch per epoch) and can never be the "
            "default; train it in full first."
        )
    if account.role == "admin":
        return None
    if version.created_by is None:
        return f"{version.label} has no recorded trainer, so only an administrator can promote it."
    if version.created_by == account.username:
        return (
            f"You trained {version.label}; another researcher or an administrator must promote it."
        )
    return None


def promote_version(store: Store, version_id: int, *, actor: str | None) -> VersionRecord:
    """Make a version the default of its model id; the others of that id stop being default.

    The bundle is re-checked against its hashes first, so a damaged bundle is
    never promoted. Recorded with ``actor`` on the row and in the audit trail.

    Raises
    ------
    PromotionRefused
        :func:`promotion_refusal`'s sentence (also recorded, as ``access_refused``).
    WeightsError
        The bundle's files no longer match their hashes.
    """
    from rehab_core.storage import load_bundle

    version = get_version(store, version_id)
    manifest = load_bundle(version.path).manifest  # WeightsError when the files changed
    refusal = promotion_refusal(store, version, actor, manifest=manifest)
    if refusal is not None:
        record_event(
            store,
            actor or "system",
            "access_refused",
            target=f"model version {version.id}",
            details={"needs": "promotion", "reason": refusal},
        )
        raise PromotionRefused(refusal)
    with Session(store.engine) as session, session.begin():
        session.execute(
            update(db.ModelVersion)
            .where(db.ModelVersion.model_id == version.model_id)
            .values(is_default=False)
        )
        row = session.get(db.ModelVersion, version.id)
        row.is_default = True
        row.promoted_at = db.utc_now()
        row.promoted_by = actor
        record_event(  # in this transaction: the promotion and its event commit together
            store,
            actor or "system",
            "promote",
            target=f"model version {version.id}",
            details={"model_id": version.model_id, "weights_sha256": version.weights_sha256},
            session=session,
        )
    return get_version(store, version_id)


def revert_to_shipped(store: Store, model_id: str, *, actor: str | None) -> None:
    """No promoted version for ``model_id``: the prediction page uses the shipped bundle."""
    with Session(store.engine) as session, session.begin():
        session.execute(
            update(db.ModelVersion)
            .where(db.ModelVersion.model_id == model_id)
            .values(is_default=False)
        )
        record_event(
            store,
            actor or "system",
            "promote",
            target=f"shipped {model_id}",
            details={"model_id": model_id},
            session=session,
        )


def default_version(store: Store, model_id: str) -> VersionRecord | None:
    """The promoted version of ``model_id``, or None (the shipped bundle serves)."""
    with Session(store.engine) as session:
        row = session.scalars(
            select(db.ModelVersion).where(
                db.ModelVersion.model_id == model_id, db.ModelVersion.is_default.is_(True)
            )
        ).first()
        return None if row is None else _record(row, store.data_dir)


def model_path(store: Store, model_id: str, weights_dir: str | Path | None = None) -> Path:
    """Where the prediction page loads ``model_id`` from: the promoted version, else shipped."""
    from rehab_core.prediction import default_weights_dir

    promoted = default_version(store, model_id)
    if promoted is not None:
        return promoted.path
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    return folder / model_id


def imagenet_fallback(store: Store, job: Any) -> str:
    """One sentence when a job asked for ImageNet weights and its image models started without.

    Offline, or without a local copy, :func:`rehab_core.models.create_model`
    keeps the random initialisation and only warns in the job's log; the
    versions' manifests record what was had (``imagenet_pretrained``), so the
    job's status can say it (issue 15). ``""`` when ImageNet weights were not
    asked for, were loaded, or the job made no version yet.
    """
    from rehab_core.storage import read_manifest

    if not (job.settings.get("experiment") or {}).get("pretrained"):
        return ""
    without = []
    for version_id in (job.progress or {}).get("versions") or []:
        version = get_version(store, version_id)
        image = read_manifest(version.path).parts.image
        if image is not None and not image.imagenet_pretrained:
            without.append(version.label)
    if not without:
        return ""
    return (
        "ImageNet weights were asked for but could not be loaded (no download, no local copy), "
        f"so the image models of {', '.join(without)} started from random weights; set "
        "REHAB_PRETRAINED_DIR to a folder of ImageNet weights, or untick the box."
    )
