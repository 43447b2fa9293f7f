"""One patient through the readers and the paper's preprocessing, and `rehab preprocess`."""

import json
from pathlib import Path

import numpy as np
import pytest

from rehab_core.cli import main
from rehab_core.io import MissingChannelsError
from rehab_core.pipeline import format_preprocess_report, prepare_patient, preprocess_patient

REAL_FIF = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "real-stroke-eeg-emg"
    / "subj2_iMC_s01_srg_raw.fif"
)


@pytest.fixture(scope="module")
def demo_patient(tmp_path_factory):
    from rehab_core.demo import generate_patient

    return generate_patient(tmp_path_factory.mktemp("patient"), seed=3, minutes=0.5, volumes=50)


def test_report_has_shapes_qc_and_settings(demo_patient):
    report = preprocess_patient(demo_patient.signals_path, demo_patient.fmri_path)
    sig, img = report["signals"], report["fmri"]
    assert sig["n_chans"] == 22 and sig["sfreq_in"] == 1000
    assert sig["windows_shape"] == [3, 22, 2500]  # 30 s -> three 10-s windows at 250 Hz
    assert sig["settings"]["resample_sfreq"] == 250
    assert "bad_channels" in sig["qc"]
    assert img["shape_in"] == [64, 64, 35, 50]
    n, c, h, w = img["slices_shape"]
    assert (c, h, w) == (3, 224, 224) and 0 < n <= 35
    assert {"mean_fd_mm", "median_tsnr"} <= set(img["qc"])
    assert set(report["inputs"]) == {str(demo_patient.signals_path), str(demo_patient.fmri_path)}
    json.dumps(report)  # JSON-ready throughout
    text = format_preprocess_report(report)
    assert "windows (3, 22, 2500)" in text and "slices (" in text


def test_cli_preprocess_json_and_text(demo_patient, capsys):
    assert main(["preprocess", "--signals", str(demo_patient.signals_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["signals"]["windows_shape"] == [3, 22, 2500]
    assert main(["preprocess", "--fmri", str(demo_patient.fmri_path)]) == 0
    assert "screened out" in capsys.readouterr().out


def test_cli_preprocess_reports_the_registration(demo_patient, capsys):
    assert main(["preprocess", "--fmri", str(demo_patient.fmri_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    qc = out["fmri"]["qc"]
    reg = qc["registration"]
    assert qc["space"] == "MNI152NLin2009aSym" and reg["passed"] is True
    keys = {"similarity_nmi", "brain_overlap_dice", "scales", "rotation_deg", "failures"}
    assert keys <= set(reg)
    assert np.array(reg["template_to_scan_mm"]).shape == (4, 4)
    assert out["fmri"]["grid_shape"] == [39, 49, 41]  # the fixed 4-mm template grid
    assert main(["preprocess", "--fmri", str(demo_patient.fmri_path)]) == 0
    line = next(
        t for t in capsys.readouterr().out.splitlines() if t.startswith("  registration to ")
    )
    assert line.startswith(
        f"  registration to MNI152NLin2009aSym: similarity (NMI) {reg['similarity_nmi']:.3f}"
    )
    assert line.endswith("; passed")


def test_fmri_in_another_orientation_goes_through(demo_patient, tmp_path):
    """A scanner file stored LPS on an oblique grid (qform and sform), as many scanners write."""
    import nibabel

    from rehab_core.imaging import rigid_transform

    img = nibabel.load(demo_patient.fmri_path)
    data = np.asarray(img.dataobj)
    to_lps = nibabel.orientations.ornt_transform(
        nibabel.orientations.io_orientation(img.affine),
        nibabel.orientations.axcodes2ornt(("L", "P", "S")),
    )
    data = nibabel.orientations.apply_orientation(data, to_lps)
    tilt = rigid_transform([0.0, 0.0, 0.0, *np.deg2rad([12.0, -5.0, 7.0])], np.zeros(3))
    affine = tilt @ img.affine @ nibabel.orientations.inv_ornt_aff(to_lps, img.shape[:3])
    oblique = nibabel.Nifti1Image(data, affine)
    oblique.set_qform(affine, code=1)
    oblique.set_sform(affine, code=1)
    oblique.header.set_zooms(img.header.get_zooms())
    oblique.header.set_xyzt_units("mm", "sec")
    path = tmp_path / "sub-x_task-rest_bold.nii.gz"
    nibabel.save(oblique, path)
    assert nibabel.aff2axcodes(nibabel.load(path).affine) == ("L", "P", "S")
    result = prepare_patient(fmri=path).fmri
    reference = prepare_patient(fmri=demo_patient.fmri_path).fmri
    assert result.qc["registration"]["passed"]
    assert result.qc["registration"]["rotation_deg"] > 10
    np.testing.assert_array_equal(result.slice_index, reference.slice_index)


def test_cli_refuses_bad_file_with_one_sentence(tmp_path, capsys):
    bad = tmp_path / "rec.txt"
    bad.write_text("")
    assert main(["preprocess", "--signals", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rehab preprocess: ") and "rec.txt" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_real_recording_preprocesses_and_lacks_paper_channels():
    prepared = prepare_patient(REAL_FIF)
    res = prepared.signals
    assert res.sfreq == 250 and res.windows.shape[1] == 40
    assert res.qc["input_sfreq"] == 500
    # 500 Hz recording: the 150 Hz edge fits below Nyquist; the result records the band used
    assert res.qc["band_hz"][1] <= 150
    with pytest.raises(MissingChannelsError, match=r"subj2_iMC_s01_srg_raw.fif lacks"):
        prepare_patient(REAL_FIF, paper_channels=True)


def test_needs_at_least_one_recording():
    with pytest.raises(ValueError, match=r"Give at least one recording"):
        prepare_patient()


def test_view_signals_keeps_continuous_data_beside_the_windows(tmp_path):
    from rehab_core.demo import generate_patient
    from rehab_core.pipeline import prepare_patient, view_signals
    from rehab_core.signals import SignalSettings

    generate_patient(tmp_path / "demo", seed=3, minutes=0.5, volumes=50)
    signals = next((tmp_path / "demo").rglob("*_eegemg.txt"))
    settings = SignalSettings(representation="envelope")
    view = view_signals(signals, settings)
    assert view.raw.shape == view.filtered.shape == (22, int(30 * view.sfreq))
    assert view.duration_s == 30.0 and not view.raw.flags.writeable
    assert view.ch_types.count("emg") == 6
    model_input = prepare_patient(signals, None, signal_settings=settings, paper_channels=True)
    np.testing.assert_array_equal(view.result.windows, model_input.signals.windows)
