"""Model versions: registration from a bundle, comparison figures, promotion and its refusals."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy.orm import Session

from rehab_core.jobs import (
    default_version,
    get_version,
    is_trial_settings,
    is_trial_version,
    list_versions,
    model_path,
    promote_version,
    revert_to_shipped,
    shipped_versions,
)
from rehab_core.jobs.versions import PromotionRefused, bundle_metrics, register_bundle
from rehab_core.security import audit_events, create_user, set_user_active
from rehab_core.storage import RecordNotFound, WeightsError
from rehab_core.storage.weights import manifest_digest
from rehab_core.viz.training import versions_table


def _register(any_store, bundle, **kwargs) -> int:
    with Session(any_store.engine) as session, session.begin():
        return register_bundle(session, bundle, data_dir=any_store.data_dir, **kwargs).id


@pytest.fixture(autouse=True)
def accounts(any_store):
    """Who promotes: the administrator ``adm``, the researchers ``bob``, ``cyd`` and ``dr.r``."""
    create_user(any_store, "adm", None, "admin", actor="pytest")
    for name in ("bob", "cyd", "dr.r"):
        create_user(any_store, name, None, "researcher", actor="pytest")
    create_user(any_store, "nurse", None, "clinician", actor="pytest")


@pytest.fixture
def trial_bundle(tiny_training, any_store):
    """A copy of the tiny bundle (a trial run: one batch per epoch) in the store's data folder."""
    target = any_store.data_dir / "jobs" / "6" / "out" / "shufflenet_lstm"
    shutil.copytree(tiny_training["out"] / "shufflenet_lstm", target)
    return target


@pytest.fixture
def bundle(tiny_training, any_store):
    """The tiny bundle as a full run would record it (as a job writes it, in the data folder)."""
    target = any_store.data_dir / "jobs" / "7" / "out" / "shufflenet_lstm"
    shutil.copytree(tiny_training["out"] / "shufflenet_lstm", target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["training"]["settings"]["max_train_batches"] = None
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


def test_register_records_relative_path_hash_and_figures(any_store, bundle):
    version_id = _register(any_store, bundle, created_by="dr.r")
    (version,) = list_versions(any_store)
    assert version.id == version_id and version.label == f"v{version_id}"
    assert version.path == bundle and version.model_id == "shufflenet_lstm"
    groups = {row["group"]: row for row in version.metrics["rows"]}
    assert set(groups) == {"signal", "image", "fusion"}
    assert groups["fusion"]["name"] == "ShuffleNet_LSTM"
    assert 0.0 <= version.fusion_auc <= 1.0
    assert version.fusion_auc == groups["fusion"]["roc_auc"]
    # stored relative to the data folder: the folder can move with its database
    from sqlalchemy import text

    with any_store.engine.connect() as conn:
        (path,) = conn.execute(text("SELECT path FROM model_versions")).one()
    assert path == "jobs/7/out/shufflenet_lstm"


def test_promote_switches_the_default_and_is_audited(any_store, bundle, tmp_path):
    first = _register(any_store, bundle)
    second = _register(any_store, bundle, created_by="dr.r")
    assert default_version(any_store, "shufflenet_lstm") is None
    shipped = model_path(any_store, "shufflenet_lstm", weights_dir=tmp_path / "w")
    assert shipped == tmp_path / "w" / "shufflenet_lstm"
    promote_version(any_store, first, actor="adm")
    promoted = promote_version(any_store, second, actor="bob")
    assert promoted.is_default and promoted.promoted_by == "bob"
    assert not get_version(any_store, first).is_default  # one default per model
    assert model_path(any_store, "shufflenet_lstm") == bundle
    revert_to_shipped(any_store, "shufflenet_lstm", actor="cyd")
    assert default_version(any_store, "shufflenet_lstm") is None
    events = [(e.username, e.target) for e in audit_events(any_store, action="promote")]
    assert sorted(events) == sorted(
        [("adm", f"model version {first}"), ("bob", f"model version {second}"),
         ("cyd", "shipped shufflenet_lstm")]
    )  # fmt: skip


def test_damaged_bundle_is_never_promoted(any_store, bundle):
    version_id = _register(any_store, bundle)
    weights = next(bundle.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsError):
        promote_version(any_store, version_id, actor="adm")
    assert default_version(any_store, "shufflenet_lstm") is None
    assert audit_events(any_store, action="promote") == []


def test_a_promotion_and_its_event_commit_together(any_store, bundle, monkeypatch):
    """The event is written in the promotion's transaction: if that fails, neither is kept."""
    from sqlalchemy.exc import OperationalError

    import rehab_core.jobs.versions as versions

    version_id = _register(any_store, bundle)
    real = versions.record_event

    def record_then_fail(*args, **kwargs):
        real(*args, **kwargs)  # added to the promotion's session...
        raise OperationalError("UPDATE model_versions", {}, OSError("disk full"))  # ...then lost

    monkeypatch.setattr(versions, "record_event", record_then_fail)
    with pytest.raises(OperationalError):
        promote_version(any_store, version_id, actor="adm")
    assert default_version(any_store, "shufflenet_lstm") is None
    assert audit_events(any_store, action="promote") == []


def test_unknown_version_is_a_plain_sentence(any_store):
    with pytest.raises(RecordNotFound, match="^There is no model version 9.$"):
        promote_version(any_store, 9, actor="adm")


def _shipped_manifest():
    from rehab_core.prediction import default_weights_dir
    from rehab_core.storage import read_manifest

    return read_manifest(default_weights_dir() / "shufflenet_lstm")


def test_shipped_bundle_is_a_version_without_id():
    every = shipped_versions()  # one per installed bundle
    assert {v.model_id for v in every} == {
        "shufflenet_lstm",
        "ghostnet_lstm",
        "fbnet_lstm",
        "regnet_lstm",
    }
    assert all(v.id is None and v.label == "shipped" for v in every)
    (shipped,) = [v for v in every if v.model_id == "shufflenet_lstm"]
    recorded = _shipped_manifest().metrics
    assert shipped.metrics["evaluated_on"] == recorded.evaluated_on
    # the tables hold every backbone's rows: the version's figure is its own model's
    (fused,) = [
        e for e in recorded.tables["table3"]["evaluations"] if e["name"] == "ShuffleNet_LSTM"
    ]
    assert shipped.fusion_auc == pytest.approx(fused["metrics"]["roc_auc"]["estimate"])


def test_versions_table_puts_versions_side_by_side(any_store, bundle):
    _register(any_store, bundle, created_by="dr.r")
    versions = [*list_versions(any_store), *shipped_versions()]
    table = versions_table(versions)
    names = [row[""] for row in table]
    assert names[:2] == ["Fused ROC AUC", "Fused accuracy"]
    shipped_col = "shufflenet_lstm shipped"  # versions of several models: prefixed
    fused = table[0][shipped_col]
    (row,) = [
        e
        for e in _shipped_manifest().metrics.tables["table3"]["evaluations"]
        if e["name"] == "ShuffleNet_LSTM"
    ]
    auc = row["metrics"]["roc_auc"]
    assert fused.startswith(f"{auc['estimate']:.2f} (") and fused.endswith(")")
    by = next(row for row in table if row[""] == "By")
    assert by[shipped_col] == "—" and by[f"shufflenet_lstm {versions[0].label}"] == "dr.r"
    # trial versions are named as such in the table; the shipped one is a full run
    assert not is_trial_version(next(v for v in versions if v.id is None))
    marked = versions_table(versions, trial=[versions[0].label])
    use = next(row for row in marked if row[""] == "Use")
    assert use[f"shufflenet_lstm {versions[0].label}"] == "trial, not for patients"
    assert use[shipped_col] == "patients"
    assert next(row for row in table if row[""] == "Use")[shipped_col] == "patients"
    # one model's versions (as the Retrain page shows them, under the model's name): labels only
    one = [v for v in versions if v.model_id == "shufflenet_lstm"]
    assert list(versions_table(one)[0]) == ["", *(v.label for v in one)]


def test_trial_settings_are_recognised():
    assert is_trial_settings({"experiment": {"max_train_batches": 1}})
    assert not is_trial_settings({"experiment": {"max_train_batches": None}})
    assert not is_trial_settings({})


def test_bundle_metrics_of_a_manifest_without_tables():
    import dataclasses

    from rehab_core.prediction import default_weights_dir
    from rehab_core.storage import read_manifest

    shipped = read_manifest(default_weights_dir() / "shufflenet_lstm")
    untested = bundle_metrics(dataclasses.replace(shipped, metrics=None))
    assert untested["rows"] == [] and untested["evaluated_on"] is None


# --- who may promote (issue 14, finding 8) --------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "created_by", "message"),
    [
        ("dr.r", "dr.r", r"^You trained v\d+ \(job \d+\)|^You trained v\d+; another researcher"),
        ("bob", None, r"^v\d+ has no recorded trainer, so only an administrator can promote it\.$"),
        ("nurse", "dr.r", r"^Only an active researcher or administrator can promote a model"),
        ("ghost", "dr.r", r"^Only an active researcher or administrator can promote a model"),
        ("retired", "dr.r", r"^Only an active researcher or administrator can promote a model"),
        (None, "dr.r", r"^Only an active researcher or administrator can promote a model"),
    ],
)
def test_a_promotion_needs_a_second_person_or_an_admin(
    any_store, bundle, actor, created_by, message
):
    create_user(any_store, "retired", None, "admin", actor="pytest")
    set_user_active(any_store, "retired", False, actor="adm")
    version_id = _register(any_store, bundle, created_by=created_by)
    with pytest.raises(PromotionRefused, match=message):
        promote_version(any_store, version_id, actor=actor)
    assert default_version(any_store, "shufflenet_lstm") is None
    assert audit_events(any_store, action="promote") == []
    (refused,) = audit_events(any_store, action="access_refused")
    assert refused.target == f"model version {version_id}"


@pytest.mark.parametrize("actor", ["adm", "bob"])
def test_a_trial_run_is_never_promoted(any_store, trial_bundle, actor):
    version_id = _register(any_store, trial_bundle, created_by="dr.r")
    with pytest.raises(
        PromotionRefused,
        match=rf"^v{version_id} is a trial run \(one batch per epoch\) and can never be the "
        r"default; train it in full first\.$",
    ):
        promote_version(any_store, version_id, actor=actor)
    assert default_version(any_store, "shufflenet_lstm") is None


def test_a_second_researcher_or_the_admin_promotes(any_store, bundle):
    version_id = _register(any_store, bundle, created_by="dr.r")
    assert promote_version(any_store, version_id, actor="bob").promoted_by == "bob"
    own = _register(any_store, bundle, created_by="adm")
    assert promote_version(any_store, own, actor="adm").promoted_by == "adm"  # an admin may
