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
    MARKERS,
    SITES,
    CohortSettings,
    draw_cohort,
    generate_cohort,
    generate_patient,
    read_true_transform,
    signal_summary,
    true_scanner_to_mni,
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
    assert description["GeneratedBy"][0]["GeneratorVersion"] == 2
    for p in info.patients:
        xfm = root / "derivatives" / "truth" / p.participant_id
        (sidecar,) = xfm.glob("*_from-scanner_to-MNI152NLin2009aSym_mode-image_xfm.json")
        assert json.loads(sidecar.read_text()) == p.scanner_to_mni
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
    for key in ("p_good_bayes", "p_good_fmri", "p_good_eegemg", "p_good_clinical", "p_good_all"):
        assert key in rows[0]
    assert {f"marker_{k}" for k in MARKERS} <= set(rows[0])
    sides = {r["participant_id"]: r["affected_side"] for r in _read_tsv(info.participants_tsv)}
    for r in rows:
        for key in ("p_good_latents", "p_good_bayes", "p_good_fmri", "p_good_clinical"):
            assert 0 < float(r[key]) < 1
        assert r["lesion_hemisphere"] == (
            "left" if sides[r["participant_id"]] == "right" else "right"
        )
        assert r["site"] in SITES and r["lesion_site"] in {
            "corona_radiata",
            "internal_capsule",
            "pons",
        }
        assert float(r["lesion_volume_ml"]) > 0 and float(r["cst_lesion_load_ml"]) >= 0
        if r["has_signals"] == "false":
            assert r["erd_depth_lesioned"] == "n/a" and r["bad_channels"] == "n/a"
            assert r["p_good_eegemg"] == "n/a"
            # what this patient's files can show is the fMRI alone
            assert r["p_good_bayes"] == r["p_good_fmri"]
        else:
            assert 0 < float(r["p_good_eegemg"]) < 1


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


def test_nifti_grid_tr_units_and_codes_follow_the_site(cohort):
    import nibabel as nib

    info, _ = cohort
    seen = set()
    for p in info.patients:
        protocol = SITES[p.ground_truth["site"]]
        img = nib.load(p.fmri_path)
        assert img.shape == (*protocol.shape, 20)
        assert img.header.get_zooms() == pytest.approx((*protocol.zooms, protocol.tr_s))
        assert img.header.get_xyzt_units() == ("mm", "sec")
        assert img.get_data_dtype() == np.int16
        assert img.dataobj.slope == pytest.approx(protocol.scl_slope)  # nibabel moves it there
        assert int(img.header["qform_code"]) == protocol.qform_code
        assert int(img.header["sform_code"]) == protocol.sform_code
        assert nib.aff2axcodes(img.affine) == tuple(protocol.orientation)
        assert np.allclose(img.affine, p.scanner_to_mni["fmri_voxel_to_scanner"])
        sidecar = json.loads(p.fmri_path.with_name(p.fmri_path.name[:-7] + ".json").read_text())
        assert sidecar["RepetitionTime"] == protocol.tr_s
        seen.add(nib.aff2axcodes(img.affine))
    assert len(seen) >= 2  # varied storage orientations within one small cohort


def test_the_files_show_what_the_ground_truth_says(cohort):
    """The infarct is where the truth puts it, and the EMG summary ranks as its truth does."""
    import nibabel as nib

    from rehab_core.demo import true_mni_to_scanner
    from rehab_core.io import read_signals_text

    info, _ = cohort
    contrast, burst_true, burst_file = [], [], []
    for p in info.patients:
        img = nib.load(p.fmri_path)
        mean = np.asarray(img.dataobj).mean(axis=-1)
        centre = np.array([p.ground_truth[f"lesion_center_{k}_mm"] for k in "xyz"])
        values = []
        for point in (centre, centre * np.array([-1.0, 1.0, 1.0])):  # the lesion, its mirror
            scanner = true_mni_to_scanner(point, p.scanner_to_mni)
            ijk = np.linalg.inv(img.affine) @ np.r_[scanner, 1.0]
            values.append(mean[tuple(np.rint(ijk[:3]).astype(int))])
        if p.ground_truth["lesion_volume_ml"] > 1.0:
            contrast.append(values[0] / values[1])
        if p.signals_path is not None:
            raw = read_signals_text(p.signals_path)
            s = signal_summary(
                raw.get_data() * 1e6,
                raw.info["sfreq"],
                raw.ch_names,
                affected_side=p.participant["affected_side"],
            )
            burst_true.append(p.ground_truth["emg_burst_ratio"])
            burst_file.append(s["emg_burst_log_ratio"])
    assert len(contrast) >= 3 and np.median(contrast) > 1.15
    assert spearmanr(burst_true, burst_file)[0] > 0.6


@pytest.mark.slow
@pytest.mark.processes  # generates a cohort twice, once in a pool of worker processes
def test_same_seed_same_bytes_whatever_n_jobs(tmp_path):
    kw = dict(n_patients=3, n_with_signals=2, seed=3, minutes=0.2, volumes=10)
    a = generate_cohort(tmp_path / "a", n_jobs=1, **kw).root
    b = generate_cohort(tmp_path / "b", n_jobs=2, **kw).root
    files_a, files_b = _all_files(a), _all_files(b)
    assert files_a.keys() == files_b.keys()
    # func (nii + json), truth (xfm), eeg (txt + events), 6 top-level
    assert len(files_a) == 3 * 3 + 2 * 2 + 6
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


@pytest.mark.parametrize("site", list(SITES))
def test_demo_patient_is_readable_by_the_product_readers_at_every_site(tmp_path, site):
    """50 volumes (the tests' short series) pass the reader at every site's TR and orientation."""
    import nibabel as nib

    from rehab_core.io import read_fmri, read_signals

    files = generate_patient(tmp_path, seed=1, minutes=0.2, volumes=50, site=site)
    raw = read_signals(files.signals_path)
    assert raw.ch_names == list(CHANNELS)
    img = read_fmri(files.fmri_path)
    protocol = SITES[site]
    assert img.shape == (*protocol.shape, 50)
    assert img.header.get_zooms()[3] == pytest.approx(protocol.tr_s)
    assert nib.aff2axcodes(img.affine) == tuple(protocol.orientation)
    assert files.ground_truth["site"] == site
    # the scanner origin lies inside the field of view; the MNI origin is near the brain centre
    centre = img.affine @ np.r_[(np.array(protocol.shape) - 1) / 2.0, 1.0]
    assert np.linalg.norm(centre[:3]) < 40.0
    brain_centre_mni = true_scanner_to_mni(centre[:3], files.scanner_to_mni)
    assert np.linalg.norm(brain_centre_mni - np.array([0.0, -20.0, 10.0])) < 30.0


def test_site_override_keeps_the_patient(tmp_path):
    a = generate_patient(tmp_path / "a", seed=4, minutes=0.2, volumes=8, site="C")
    b = generate_patient(tmp_path / "b", seed=4, minutes=0.2, volumes=8, site="D")
    assert a.participant == b.participant
    assert a.signals_path.read_bytes() == b.signals_path.read_bytes()
    assert (a.ground_truth["site"], b.ground_truth["site"]) == ("C", "D")
    with pytest.raises(ValueError, match="site='Z' is not allowed"):
        generate_patient(tmp_path / "c", seed=4, site="Z")


def test_draw_cohort_equals_the_written_rows(cohort):
    info, _ = cohort
    rows = draw_cohort(info.settings)
    assert [r["participant_id"] for r in rows] == [p.participant_id for p in info.patients]
    for row, p in zip(rows, info.patients, strict=True):
        for key in p.participant:
            assert row[key] == p.participant[key], key
        for key in ("latent_c", "p_good_bayes", "p_good_eegemg", "p_good_all", "site"):
            assert row[key] == p.ground_truth[key], key


def test_tiny_cohort_of_the_suite_has_both_outcomes():
    """tests/conftest.py's TINY_COHORT (seed 5, 20 patients) must give good and poor patients."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "suite_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    rows = draw_cohort(CohortSettings(**suite.TINY_COHORT))
    outcomes = [r["outcome"] for r in rows]
    assert 5 <= outcomes.count("good") <= 15 and len(outcomes) == 20


def test_read_true_transform(cohort):
    info, _ = cohort
    p = info.patients[3]
    assert read_true_transform(info.root, p.participant_id) == p.scanner_to_mni
    with pytest.raises(FileNotFoundError, match="sub-099"):
        read_true_transform(info.root, "sub-099")


def test_summary_reports_every_ceiling(cohort):
    info, _ = cohort
    text = info.summary()
    assert text.startswith("10 patients")
    for label in ("fMRI + EEG-EMG", "fMRI alone", "EEG-EMG alone", "baseline FMA-LE"):
        assert label in text


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
