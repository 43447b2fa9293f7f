"""The cohort on disk: layout, schema, determinism, readers, and signal in each modality."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from rehab_core.demo import (
    CHANNELS,
    CohortSettings,
    fmri_summary,
    generate_cohort,
    generate_patient,
    signal_summary,
)

SMALL = dict(n_patients=10, n_with_signals=8, seed=7, minutes=0.5, volumes=20)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    calls = []
    info = generate_cohort(
        tmp_path_factory.mktemp("cohort"), progress=lambda d, t: calls.append((d, t)), **SMALL
    )
    return info, calls


def test_layout_and_progress(cohort):
    info, calls = cohort
    root = info.root
    assert calls == [(i, 10) for i in range(1, 11)]
    for name in (
        "participants.tsv",
        "ground_truth.tsv",
        "dataset_description.json",
        "cohort_settings.json",
    ):
        assert (root / name).is_file()
    assert CohortSettings.from_json((root / "cohort_settings.json").read_text()) == info.settings
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["BIDSVersion"] and description["GeneratedBy"][0]["Name"].startswith(
        "rehab_core"
    )
    assert [p.participant_id for p in info.patients] == [f"sub-{i:03d}" for i in range(1, 11)]
    for p in info.patients:
        assert (
            p.fmri_path
            == root / p.participant_id / "func" / f"{p.participant_id}_task-rest_bold.nii.gz"
        )
        assert p.fmri_path.is_file()
        if p.ground_truth["has_signals"]:
            assert p.signals_path.name == f"{p.participant_id}_task-flexext_eegemg.txt"
            assert p.signals_path.is_file() and p.events_path.is_file()
        else:
            assert p.signals_path is None and not (root / p.participant_id / "eeg").exists()


def test_participants_schema_and_ranges(cohort):
    info, _ = cohort
    rows = _read_tsv(info.participants_tsv)
    assert list(rows[0]) == [
        "participant_id",
        "age",
        "sex",
        "affected_side",
        "days_since_stroke",
        "fma_le_baseline",
        "fma_le_3m",
        "outcome",
    ]
    assert len(rows) == 10
    for row in rows:
        assert 40 <= int(row["age"]) <= 79
        assert row["sex"] in {"M", "F"}
        assert row["affected_side"] in {"left", "right"}
        assert 0 <= int(row["days_since_stroke"]) <= 14
        assert 0 <= int(row["fma_le_baseline"]) <= 34
        assert 0 <= int(row["fma_le_3m"]) <= 34
        assert row["outcome"] == ("good" if int(row["fma_le_3m"]) > 17 else "poor")


def test_ground_truth_schema(cohort):
    info, _ = cohort
    rows = _read_tsv(info.ground_truth_tsv)
    assert sum(r["has_signals"] == "true" for r in rows) == 8
    assert all(r["has_fmri"] == "true" for r in rows)
    sides = {r["participant_id"]: r["affected_side"] for r in _read_tsv(info.participants_tsv)}
    for r in rows:
        p = float(r["p_good_bayes"])
        assert 0 < p < 1
        assert r["lesion_hemisphere"] == (
            "left" if sides[r["participant_id"]] == "right" else "right"
        )
        assert float(r["lesion_volume_ml"]) > 0
        if r["has_signals"] == "false":
            assert r["erd_depth_lesioned"] == "n/a" and r["bad_channels"] == "n/a"


def test_signal_files_have_the_papers_channels_and_rate(cohort):
    from rehab_core.io import read_signals_text

    info, _ = cohort
    patient = next(p for p in info.patients if p.signals_path is not None)
    raw = read_signals_text(patient.signals_path)
    assert raw.ch_names == list(CHANNELS)
    assert raw.info["sfreq"] == 1000.0
    assert raw.n_times == 30_000
    assert raw.get_channel_types() == ["eeg"] * 16 + ["emg"] * 6
    events = _read_tsv(patient.events_path)
    assert [e["trial_type"] for e in events[:4]] == ["preparation", "flexion", "rest", "extension"]


def test_nifti_shape_zooms_tr_units(cohort):
    import nibabel as nib

    info, _ = cohort
    img = nib.load(info.patients[0].fmri_path)
    assert img.shape == (64, 64, 35, 20)
    assert img.header.get_zooms() == pytest.approx((3.4, 3.4, 4.0, 2.0))
    assert img.header.get_xyzt_units() == ("mm", "sec")
    assert img.get_data_dtype() == np.int16


# reads every recording of the cohort and summarises it, to rank patients by their latents
@pytest.mark.slow
def test_each_modality_carries_its_latent(cohort):
    """Summaries computed from the files rank patients by their latent factor."""
    import nibabel as nib

    from rehab_core.io import read_signals_text

    info, _ = cohort
    c, sig, n, img_score = [], [], [], []
    for p in info.patients:
        side = p.participant["affected_side"]
        img = nib.load(p.fmri_path)
        f = fmri_summary(np.asarray(img.dataobj), img.affine, 2.0, affected_side=side)
        n.append(p.ground_truth["latent_n"])
        img_score.append(f["healthy_fraction"])
        if p.signals_path is not None:
            raw = read_signals_text(p.signals_path)
            s = signal_summary(
                raw.get_data() * 1e6, raw.info["sfreq"], raw.ch_names, affected_side=side
            )
            c.append(p.ground_truth["latent_c"])
            sig.append(s["emg_burst_log_ratio"] + s["beta_erd_laterality"])
    assert spearmanr(c, sig)[0] > 0.6
    assert spearmanr(n, img_score)[0] > 0.6


@pytest.mark.slow
@pytest.mark.processes  # generates a cohort twice, once in a pool of worker processes
def test_same_seed_same_bytes_whatever_n_jobs(tmp_path):
    kw = dict(n_patients=3, n_with_signals=2, seed=3, minutes=0.2, volumes=10)
    a = generate_cohort(tmp_path / "a", n_jobs=1, **kw).root
    b = generate_cohort(tmp_path / "b", n_jobs=2, **kw).root
    files_a, files_b = _all_files(a), _all_files(b)
    assert files_a.keys() == files_b.keys()
    assert len(files_a) == 3 * 2 + 2 * 2 + 6  # func (nii + json), eeg (txt + events), 6 top-level
    for name in files_a:
        assert files_a[name] == files_b[name], name


def test_patient_determinism_and_seed_dependence(tmp_path):
    kw = dict(minutes=0.2, volumes=10)
    one = generate_patient(tmp_path / "one", seed=5, **kw)
    two = generate_patient(tmp_path / "two", seed=5, **kw)
    other = generate_patient(tmp_path / "other", seed=6, **kw)
    assert one.participant_id == "sub-demo"
    for attr in ("signals_path", "events_path", "fmri_path"):
        assert getattr(one, attr).read_bytes() == getattr(two, attr).read_bytes()
    assert one.signals_path.read_bytes() != other.signals_path.read_bytes()
    assert one.fmri_path.read_bytes() != other.fmri_path.read_bytes()
    assert one.participant == two.participant


def test_modalities_use_independent_streams(tmp_path):
    """Changing the recording length changes neither the latents nor the fMRI."""
    short = generate_patient(tmp_path / "s", seed=9, minutes=0.2, volumes=10)
    long = generate_patient(tmp_path / "l", seed=9, minutes=0.3, volumes=10, with_signals=False)
    assert short.participant == long.participant
    assert short.fmri_path.read_bytes() == long.fmri_path.read_bytes()
    assert long.signals_path is None and long.ground_truth["erd_depth_lesioned"] is None


def test_demo_patient_is_readable_by_the_product_readers(tmp_path):
    from rehab_core.io import read_fmri, read_signals

    files = generate_patient(tmp_path, seed=1, minutes=0.2, volumes=50)
    raw = read_signals(files.signals_path)
    assert raw.ch_names == list(CHANNELS)
    img = read_fmri(files.fmri_path)
    assert img.shape == (64, 64, 35, 50)
    assert img.header.get_zooms()[3] == pytest.approx(2.0)


def test_refuses_a_non_empty_folder_unless_overwriting_a_cohort(tmp_path):
    kw = dict(n_patients=1, n_with_signals=0, minutes=0.2, volumes=8)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a synthetic cohort, so it is left alone"):
        generate_cohort(other, **kw)
    root = generate_cohort(tmp_path / "c", **kw).root
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        generate_cohort(root, **kw)
    info = generate_cohort(root, overwrite=True, **{**kw, "seed": 1})
    assert info.settings.seed == 1 and len(list(root.glob("sub-*"))) == 1


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="pass either settings or n_patients, not both"):
        generate_cohort(
            tmp_path / "x", n_patients=5, settings=CohortSettings(n_patients=5, n_with_signals=2)
        )
    with pytest.raises(ValueError, match="n_jobs=0 must lie between 1 and 64"):
        generate_cohort(tmp_path / "x", n_jobs=0)
    with pytest.raises(TypeError, match="progress must be a callable"):
        generate_cohort(tmp_path / "x", progress=5)
    with pytest.raises(ValueError, match="participant_id='patient 1' must look like 'sub-001'"):
        generate_patient(tmp_path, seed=0, participant_id="patient 1")
    with pytest.raises(ValueError, match="seed=-1 must be a non-negative int"):
        generate_patient(tmp_path, seed=-1)
    assert not (tmp_path / "x").exists()


def test_cohort_patient_equals_standalone_patient_with_spawned_seed(cohort, tmp_path):
    """Patient i of a cohort is generate_patient with SeedSequence(seed).spawn(n)[i]."""
    info, _ = cohort
    i = 2
    child = np.random.SeedSequence(SMALL["seed"]).spawn(SMALL["n_patients"])[i]
    p = info.patients[i]
    alone = generate_patient(
        tmp_path,
        seed=child,
        participant_id=p.participant_id,
        with_signals=p.signals_path is not None,
        minutes=SMALL["minutes"],
        volumes=SMALL["volumes"],
    )
    assert alone.participant == p.participant
    assert alone.fmri_path.read_bytes() == p.fmri_path.read_bytes()
