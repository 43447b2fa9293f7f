"""``rehab predict --channel-map``: the dashboard's channel mapping on the command line (issue 15).

A recording that calls the rectus femoris ``RF`` is read with the same map the
Patients page stores with an upload (``{"RF": "EMG_RF"}``), through the same
reader (:func:`rehab_core.io.map_raw_channels` inside ``prepare_patient``), so
the renamed file predicts exactly as the original does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rehab_core.cli import main

OWN_NAMES = {"EMG_RF": "RF", "EMG_RFP": "Rectus_femoris_prox_L"}
PAIRS = "RF=EMG_RF, Rectus_femoris_prox_L=emg_rfp"  # spaces and any case are fine


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A short demo patient, and its EEG-EMG again with two muscles under the ward's names."""
    from rehab_core.demo import generate_patient

    out = tmp_path_factory.mktemp("cli_map")
    files = generate_patient(out / "demo", seed=42, minutes=1.0, volumes=60)
    text = files.signals_path.read_text().splitlines(keepends=True)
    header = next(i for i, line in enumerate(text) if not line.startswith("#"))
    names = [OWN_NAMES.get(n, n) for n in text[header].split()]
    text[header] = " ".join(names) + "\n"
    renamed = out / "ward.txt"
    renamed.write_text("".join(text))
    return {"signals": files.signals_path, "renamed": renamed, "fmri": files.fmri_path}


def _predict(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["predict", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow  # three predictions with the shipped model: about 45 s on 2 cores
def test_a_mapped_recording_predicts_as_the_original_and_says_its_map(demo, capsys, tmp_path):
    fmri = ["--fmri", str(demo["fmri"]), "--json"]
    code, out, _ = _predict(capsys, "--signals", str(demo["signals"]), *fmri)
    assert code == 0
    original = json.loads(out)
    assert original["modality"] == "fusion" and original["channel_map"] == {}

    # without the map the renamed file is refused with what it lacks, muscles in words
    code, _, err = _predict(capsys, "--signals", str(demo["renamed"]), *fmri)
    assert code == 2
    assert err.startswith("rehab predict: ") and "rectus femoris" in err
    assert len(err.strip().splitlines()) == 1

    code, out, _ = _predict(
        capsys, "--signals", str(demo["renamed"]), "--channel-map", PAIRS, *fmri
    )
    assert code == 0
    mapped = json.loads(out)
    assert mapped["modality"] == "fusion"
    assert mapped["channel_map"] == {"RF": "EMG_RF", "Rectus_femoris_prox_L": "emg_rfp"}
    for key in ("probability_good", "signal_score", "image_score", "interval"):
        assert mapped[key] == pytest.approx(original[key], abs=1e-6), key

    # the same map as a file, as the dashboard stores it, and the text output names it
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"RF": "EMG_RF", "Rectus_femoris_prox_L": "EMG_RFP"}))
    code, out, _ = _predict(
        capsys, "--signals", str(demo["renamed"]), "--channel-map", str(path), "--fmri",
        str(demo["fmri"]),
    )  # fmt: skip
    assert code == 0
    assert "  channel RF read as rectus femoris (EMG_RF)\n" in out
    assert "  channel Rectus_femoris_prox_L read as proximal rectus femoris (EMG_RFP)\n" in out
    assert f"P(good outcome): {original['probability_good']:.2f} " in out


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            "Rf=EMG_RF",
            "The channel map names Rf, but this recording has no such channel (did you mean RF?).",
        ),
        (
            "RF=EMG-RF",
            "RF is mapped to EMG-RF, which is not one of the model's channels (did you mean "
            "EMG_RF?); they are P4, CP2, FC5, C3, P3, C2, FC6, C4, CP6, F3, FC2, FC1, F4, CP5, C1, "
            "CP1, EMG_RF, EMG_VM, EMG_BFL, EMG_GMAX, EMG_ST, EMG_RFP.",
        ),
        (
            "RF=C3",
            "RF is mapped to C3, which this recording already has; map it to a channel the "
            "recording lacks.",
        ),
    ],
)
def test_a_map_that_does_not_fit_the_recording_is_one_sentence(demo, capsys, pairs, message):
    args = ["--signals", str(demo["renamed"]), "--fmri", str(demo["fmri"])]
    code, out, err = _predict(capsys, *args, "--channel-map", pairs)
    assert (code, out) == (2, "")
    assert err == f"rehab predict: {message}\n"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("RF", r"^'RF' is no file and holds no SOURCE=TARGET pair; a channel map is a JSON file"),
        ("RF=EMG_RF,=EMG_VM", r"^'=EMG_VM' is not a SOURCE=TARGET pair; a channel map is"),
        ("RF=EMG_RF,RF=EMG_VM", r"^RF is mapped twice; a channel map is"),
    ],
)
def test_a_malformed_map_is_refused_before_the_model_loads(capsys, monkeypatch, spec, message):
    import rehab_core.workflows.predict as workflow

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded for a map that cannot be read")

    monkeypatch.setattr(workflow, "load_model", no_load)
    code, _, err = _predict(
        capsys, "--signals", "s.txt", "--fmri", "f.nii.gz", "--channel-map", spec
    )
    assert code == 2
    assert re.search(message, err.removeprefix("rehab predict: "))
    assert "such as RF=EMG_RF,RFP=EMG_RFP." in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"^map\.json is not JSON \(Expecting property name"),
        ('["RF", "EMG_RF"]', r"^map\.json holds no object of channel names; a channel map is"),
        ('{"RF": 3}', r"^map\.json holds no object of channel names"),
    ],
)
def test_a_map_file_that_is_no_map_is_one_sentence(capsys, tmp_path, content, message):
    path = tmp_path / "map.json"
    path.write_text(content)
    code, _, err = _predict(
        capsys, "--signals", "s.txt", "--fmri", "f.nii.gz", "--channel-map", str(path)
    )
    assert code == 2
    assert re.search(message, err.removeprefix("rehab predict: ")), err


@pytest.mark.parametrize(
    "args", [["--fmri", "f.nii.gz"], ["--cohort", "cohort", "--signals", "s.txt"]]
)
def test_a_map_without_one_recording_to_rename_is_refused(capsys, args):
    code, _, err = _predict(capsys, *args, "--channel-map", "RF=EMG_RF")
    assert code == 2
    assert err == (
        "rehab predict: --channel-map renames the channels of the one recording given with "
        "--signals.\n"
    )


def test_the_map_file_is_what_the_dashboard_stores(tmp_path):
    """One structure: an upload's stored map, written to a file, reads back as the same map."""
    from rehab_core.io import read_channel_map

    stored = {"RF": "EMG_RF", "Rectus_femoris_prox_L": "EMG_RFP"}  # UploadRecord.channel_map
    path = Path(tmp_path / "upload_map.json")
    path.write_text(json.dumps(stored))
    assert read_channel_map(path) == stored
    assert read_channel_map("RF=EMG_RF,Rectus_femoris_prox_L=EMG_RFP") == stored
