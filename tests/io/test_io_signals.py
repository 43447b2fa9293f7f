"""read_signals through MNE (FIF, EDF, BDF, BrainVision, EEGLAB) and pick_paper_channels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rehab_core.io import (
    PAPER_CHANNELS,
    PAPER_EEG_CHANNELS,
    PAPER_EMG_CHANNELS,
    CorruptFileError,
    EmptyFileError,
    MissingChannelsError,
    NonFiniteError,
    TooShortError,
    UnknownFormatError,
    pick_paper_channels,
    read_signals,
    write_signals_text,
)

# Three short real recordings shared with the project (32 EEG + 8 arm EMG, 500 Hz,
# ~20 s; see its README). Another copy can be pointed to with REHAB_REAL_EEG_EMG_DIR.
REAL_DIR = Path(
    os.environ.get(
        "REHAB_REAL_EEG_EMG_DIR",
        # shared/ lies beside the repository (developers' checkouts and CI alike)
        Path(__file__).resolve().parents[3] / "shared" / "data" / "real-stroke-eeg-emg",
    )
)
REAL_FILES = [REAL_DIR / f"subj{i}_iMC_s01_srg_raw.fif" for i in (10, 2, 4)]
SFREQ = 100.0
PYBV_UNITS = pytest.mark.filterwarnings(
    "ignore:Encountered unsupported non-voltage units"
)  # misc channel


def _raw(data_uV: np.ndarray, names: list[str], types: list[str]):
    import mne

    info = mne.create_info(names, SFREQ, types)
    return mne.io.RawArray(data_uV * 1e-6, info, verbose="error")


@pytest.fixture
def paper_raw(paper_data_uV):
    """RawArray of the 22 paper channels plus one misc channel, typed as in a lab file."""
    names = [*PAPER_CHANNELS, "Misc1"]
    data = np.vstack([paper_data_uV, paper_data_uV[:1] * 0.5])
    return _raw(data, names, ["eeg"] * 16 + ["emg"] * 6 + ["misc"])


# ---------------------------------------------------------------- real recordings


def test_real_recordings_are_present():
    missing = [p.name for p in REAL_FILES if not p.is_file()]
    assert not missing, f"shared real recordings missing from {REAL_DIR}: {missing}"


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_fif_reads(path):
    raw = read_signals(path)
    assert raw.preload
    assert raw.info["sfreq"] == 500
    assert len(raw.ch_names) == 40
    types = raw.get_channel_types()
    assert types.count("eeg") == 32 and types.count("emg") == 8
    assert [n for n, t in zip(raw.ch_names, types, strict=True) if t == "emg"] == [
        f"emg{i}" for i in range(1, 9)
    ]
    assert 19 < raw.times[-1] < 21
    data = raw.get_data()
    assert np.isfinite(data).all() and 1e-7 < np.abs(data).max() < 1e-1  # volts
    assert raw.info["description"] == f"rehab_core.io: FIF from {path.name}"


def test_real_fif_lacks_paper_channels():
    path = REAL_DIR / "subj2_iMC_s01_srg_raw.fif"
    raw = read_signals(path)
    message = (
        "subj2_iMC_s01_srg_raw.fif lacks the paper's EEG channels C2 and C1 "
        "and all six leg muscles the model reads (proximal rectus femoris, rectus femoris, "
        "vastus medialis, gluteus maximus, biceps femoris (long head) and semitendinosus); "
        "the model needs all 22 channels."
    )
    with pytest.raises(
        MissingChannelsError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")
    ):
        pick_paper_channels(raw)


def test_a_stored_copy_is_named_as_the_user_gave_it(tmp_path):
    """Issue 15: a stored copy is named by its hash; the error must name the user's file."""
    import shutil

    from rehab_core.pipeline import prepare_patient, sha256_file

    source = REAL_DIR / "subj2_iMC_s01_srg_raw.fif"
    stored = tmp_path / f"{sha256_file(source)}.fif"
    shutil.copyfile(source, stored)
    with pytest.raises(MissingChannelsError, match=r"^Ward 3 recording\.fif lacks the paper's"):
        pick_paper_channels(read_signals(stored), name="Ward 3 recording.fif")
    with pytest.raises(MissingChannelsError, match=r"^Ward 3 recording\.fif lacks") as err:
        prepare_patient(stored, None, paper_channels=True, signals_name="Ward 3 recording.fif")
    assert stored.stem not in str(err.value)


# ---------------------------------------------------------------- pick_paper_channels


def test_pick_paper_channels_orders_renames_and_copies(tmp_path, paper_data_uV):
    order = np.random.default_rng(3).permutation(len(PAPER_CHANNELS))
    names = [PAPER_CHANNELS[i] for i in order]
    names[names.index("FC5")] = "fc5"
    names[names.index("EMG_ST")] = "emg_st"
    data = np.vstack([paper_data_uV[order], paper_data_uV[:1]])
    path = write_signals_text(tmp_path / "shuffled.txt", data, [*names, "Extra"], SFREQ)
    raw = read_signals(path)
    before = raw.get_data()
    picked = pick_paper_channels(raw)
    assert tuple(picked.ch_names) == PAPER_CHANNELS
    assert picked.get_channel_types() == ["eeg"] * 16 + ["emg"] * 6
    expected = np.rint(paper_data_uV * 100) / 100 * 1e-6
    np.testing.assert_allclose(picked.get_data(), expected, rtol=0, atol=1e-15)
    assert raw.ch_names[-1] == "Extra" and "fc5" in raw.ch_names  # original untouched
    np.testing.assert_array_equal(raw.get_data(), before)


def test_pick_paper_channels_names_missing_ones(tmp_path, paper_data_uV):
    keep = [i for i, n in enumerate(PAPER_CHANNELS) if n not in {"C2", "CP2", "EMG_RF"}]
    raw = _raw(paper_data_uV[keep], [PAPER_CHANNELS[i] for i in keep], ["eeg"] * 14 + ["emg"] * 5)
    with pytest.raises(
        MissingChannelsError,
        match=r"^The recording lacks the paper's EEG channels CP2 and C2 "
        r"and the leg EMG of the rectus femoris; "
        r"the model needs all 22 channels\.$",
    ):
        pick_paper_channels(raw)
    only_emg = _raw(paper_data_uV[16:], list(PAPER_EMG_CHANNELS), ["emg"] * 6)
    with pytest.raises(
        MissingChannelsError, match=r"lacks the paper's EEG channels P4, CP2, .* and CP1; the model"
    ):
        pick_paper_channels(only_emg)


def test_pick_paper_channels_refuses_case_twins(paper_data_uV):
    names = [*PAPER_CHANNELS, "c3"]
    raw = _raw(
        np.vstack([paper_data_uV, paper_data_uV[:1]]), names, ["eeg"] * 16 + ["emg"] * 6 + ["eeg"]
    )
    with pytest.raises(
        MissingChannelsError, match=r"has channels C3 and c3 that differ only by case"
    ):
        pick_paper_channels(raw)


# ---------------------------------------------------------------- round trips through MNE


def _export(raw, path: Path, fmt: str) -> Path:
    import mne

    if fmt == "fif":
        raw.save(path, overwrite=True, verbose="error")
    else:
        mne.export.export_raw(path, raw, fmt=fmt, overwrite=True, verbose="error")
    return path


@PYBV_UNITS
@pytest.mark.parametrize(
    ("fname", "fmt", "label", "atol"),
    [  # float32 storage (FIF, BrainVision, EEGLAB) or 16-bit integers per channel range (EDF)
        ("rec_raw.fif", "fif", "FIF", 1e-12),
        ("rec_raw.fif.gz", "fif", "FIF", 1e-12),
        ("rec.edf", "edf", "EDF", 5e-8),
        ("rec.vhdr", "brainvision", "BrainVision", 1e-12),
        ("rec.set", "eeglab", "EEGLAB", 1e-12),
    ],
)
def test_round_trip_through_mne_formats(tmp_path, paper_raw, fname, fmt, label, atol):
    path = _export(paper_raw, tmp_path / fname, fmt)
    raw = read_signals(path)
    assert raw.ch_names == paper_raw.ch_names
    assert raw.get_channel_types() == ["eeg"] * 16 + ["emg"] * 6 + ["misc"]
    assert raw.info["sfreq"] == SFREQ
    np.testing.assert_allclose(raw.get_data(), paper_raw.get_data(), rtol=1e-6, atol=atol)
    assert raw.info["description"] == f"rehab_core.io: {label} from {fname}"
    eeg_pos = np.array([ch["loc"][:3] for ch in raw.info["chs"][:16]])
    assert np.all(np.linalg.norm(eeg_pos, axis=1) > 0.05)
    assert tuple(pick_paper_channels(raw).ch_names) == PAPER_CHANNELS


def test_fif_keeps_a_stored_description(tmp_path, paper_data_uV):
    path = write_signals_text(tmp_path / "rec.txt", paper_data_uV, PAPER_CHANNELS, SFREQ)
    read_signals(path).save(tmp_path / "rec_raw.fif", verbose="error")
    raw = read_signals(tmp_path / "rec_raw.fif")
    assert raw.info["description"] == (
        "rehab_core.io: FIF from rec_raw.fif; stored description: "
        "rehab_core.io: rehab-eegemg text v1 from rec.txt; sfreq 100 Hz header; units uV"
    )


def test_typeless_formats_type_channels_by_name(tmp_path, paper_data_uV):
    # In EDF every channel comes back as 'eeg'; names decide.
    raw = _raw(paper_data_uV[:4], ["C3", "emg1", "EMG_VM", "Pulse"], ["eeg", "eeg", "eeg", "eeg"])
    path = _export(raw, tmp_path / "typeless.edf", "edf")
    assert read_signals(path).get_channel_types() == ["eeg", "emg", "emg", "misc"]


def _write_bdf(path: Path, data_V: np.ndarray, names: list[str], sfreq: int) -> Path:
    """A minimal BioSemi BDF writer (MNE cannot export BDF): 1-s records, 24-bit samples."""
    n_chans, n_times = data_V.shape
    n_records = n_times // sfreq
    data_uV = data_V[:, : n_records * sfreq] * 1e6
    phys = float(np.ceil(np.abs(data_uV).max())) + 1.0
    dig = 2**23 - 1
    digital = np.rint(data_uV / phys * dig).astype(np.int64)

    def field(value, width: int) -> bytes:
        return str(value).ljust(width).encode("ascii")

    header = (
        b"\xffBIOSEMI"
        + field("X", 80)
        + field("X", 80)
        + field("01.01.25", 8)
        + field("00.00.00", 8)
    )
    header += field(256 * (n_chans + 1), 8) + field("24BIT", 44) + field(n_records, 8) + field(1, 8)
    header += field(n_chans, 4)
    for width, value in [
        (16, None),
        (80, ""),
        (8, "uV"),
        (8, -phys),
        (8, phys),
        (8, -dig),
        (8, dig),
        (80, ""),
        (8, sfreq),
        (32, ""),
    ]:
        header += b"".join(field(name if value is None else value, width) for name in names)
    records = digital.reshape(n_chans, n_records, sfreq).transpose(1, 0, 2).reshape(-1)
    body = (records & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    path.write_bytes(header + body)
    return path


def test_bdf_round_trip(tmp_path, paper_raw):
    path = _write_bdf(tmp_path / "rec.bdf", paper_raw.get_data(), paper_raw.ch_names, int(SFREQ))
    raw = read_signals(path)
    assert raw.ch_names == paper_raw.ch_names
    assert raw.get_channel_types() == ["eeg"] * 16 + ["emg"] * 6 + ["misc"]
    np.testing.assert_allclose(raw.get_data(), paper_raw.get_data(), rtol=0, atol=2e-10)
    assert raw.info["description"] == "rehab_core.io: BDF from rec.bdf"


def test_edf_renamed_bdf_is_refused(tmp_path, paper_raw):
    path = _export(paper_raw, tmp_path / "rec.edf", "edf")
    bdf = path.with_suffix(".bdf")
    bdf.write_bytes(path.read_bytes())
    with pytest.raises(
        CorruptFileError, match=r"^rec.bdf (is truncated or damaged|could not be read as BDF) \("
    ):
        read_signals(bdf)


# ---------------------------------------------------------------- refused files


@pytest.mark.parametrize(
    ("fname", "label"),
    [
        ("g_raw.fif", "FIF"),
        ("g.edf", "EDF"),
        ("g.bdf", "BDF"),
        ("g.vhdr", "BrainVision"),
        ("g.set", "EEGLAB"),
    ],
)
def test_garbage_is_corrupt(tmp_path, fname, label):
    (tmp_path / fname).write_bytes(b"not a recording " * 64)
    with pytest.raises(
        CorruptFileError,
        match=rf"^{fname} could not be read as {label} \(.+\); "
        rf"expected a complete {label} recording\.$",
    ):
        read_signals(tmp_path / fname)


@pytest.mark.parametrize(
    ("fname", "fmt", "label"), [("t_raw.fif", "fif", "FIF"), ("t.edf", "edf", "EDF")]
)
@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file_is_refused_not_partially_read(tmp_path, paper_raw, fname, fmt, label, keep):
    path = _export(paper_raw, tmp_path / fname, fmt)
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * keep)])
    with pytest.raises(
        CorruptFileError,
        match=rf"^{fname} (is truncated or damaged|could not be read as {label}) \(",
    ):
        read_signals(path)


def test_edf_announcing_minus_one_records_is_read_to_the_end(tmp_path, paper_raw):
    path = _export(paper_raw, tmp_path / "live.edf", "edf")
    content = bytearray(path.read_bytes())
    content[236:244] = b"-1      "
    path.write_bytes(bytes(content))
    assert read_signals(path).n_times == paper_raw.n_times


@PYBV_UNITS
def test_brainvision_without_its_data_file(tmp_path, paper_raw):
    path = _export(paper_raw, tmp_path / "rec.vhdr", "brainvision")
    path.with_suffix(".eeg").unlink()
    with pytest.raises(
        CorruptFileError, match=r"^rec.vhdr could not be read as BrainVision \(.*rec.eeg.*\)"
    ):
        read_signals(path)


def test_non_finite_and_too_short_mne_files(tmp_path, paper_raw, paper_data_uV):
    data = paper_data_uV.copy()
    data[17, 250] = np.nan
    bad = _raw(data, list(PAPER_CHANNELS), ["eeg"] * 16 + ["emg"] * 6)
    path = _export(bad, tmp_path / "nan_raw.fif", "fif")
    with pytest.raises(
        NonFiniteError,
        match=r"^nan_raw.fif holds a NaN or infinite sample in channel EMG_VM at 2.500 s",
    ):
        read_signals(path)
    short = _export(paper_raw.copy().crop(tmax=5.0), tmp_path / "short_raw.fif", "fif")
    with pytest.raises(
        TooShortError, match=r"^short_raw.fif holds 5.01 s of signal \(501 samples at 100 Hz\)"
    ):
        read_signals(short)


def test_empty_and_unknown(tmp_path):
    (tmp_path / "e.edf").write_bytes(b"")
    with pytest.raises(EmptyFileError, match=r"^e.edf is empty \(0 bytes\)"):
        read_signals(tmp_path / "e.edf")
    (tmp_path / "rec.mat").write_bytes(b"x")
    with pytest.raises(
        UnknownFormatError, match=r"^rec.mat is not a supported EEG-EMG recording; expected one of"
    ):
        read_signals(tmp_path / "rec.mat")


def test_import_is_light():
    code = (
        "import sys, rehab_core.io; "
        "print(sorted(m for m in ('mne', 'nibabel', 'pandas', 'torch') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def test_paper_channel_constants():
    assert len(PAPER_EEG_CHANNELS) == 16 and len(PAPER_EMG_CHANNELS) == 6
    assert PAPER_CHANNELS[:3] == ("P4", "CP2", "FC5") and PAPER_CHANNELS[-1] == "EMG_RFP"
