"""The rehab-eegemg text format: writer, reader and every refused file."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from rehab_core import io as rio
from rehab_core.io import (
    PAPER_CHANNELS,
    PAPER_EEG_CHANNELS,
    PAPER_EMG_CHANNELS,
    ChannelNamesError,
    CorruptFileError,
    DefaultSamplingRateWarning,
    EmptyFileError,
    HeaderMismatchError,
    InputError,
    NonFiniteError,
    NonNumericError,
    RaggedColumnsError,
    TooShortError,
    UnknownFormatError,
    UnknownSamplingRateError,
    UnknownUnitError,
    read_signals,
    write_signals_text,
)

SFREQ = 100.0
N_TIMES = 1100  # the paper_data_uV fixture: 11 s at 100 Hz
NAMES3 = ["C3", "EMG_RF", "Trigger"]


def _write_lines(path: Path, header: list[str], names: list[str], rows: list[str]) -> Path:
    path.write_text("\n".join([*header, " ".join(names), *rows]) + "\n", encoding="utf-8")
    return path


def _rows(n: int, n_cols: int = 3) -> list[str]:
    return [" ".join(f"{(i * n_cols + j) % 17 - 8}.25" for j in range(n_cols)) for i in range(n)]


def _small_file(tmp_path: Path, header: list[str] | None = None, n: int = 1000, **kw) -> Path:
    header = ["# rehab-eegemg 1", "# sfreq: 100"] if header is None else header
    return _write_lines(tmp_path / kw.get("fname", "rec.txt"), header, NAMES3, _rows(n))


# ---------------------------------------------------------------- round trip


def test_round_trip_keeps_data_types_and_rate(tmp_path, paper_data_uV):
    original = paper_data_uV.copy()
    path = write_signals_text(tmp_path / "rec.txt", paper_data_uV, PAPER_CHANNELS, SFREQ)
    np.testing.assert_array_equal(paper_data_uV, original)  # input untouched
    raw = read_signals(str(path))
    assert raw.ch_names == list(PAPER_CHANNELS)
    assert raw.info["sfreq"] == SFREQ
    assert raw.get_channel_types() == ["eeg"] * 16 + ["emg"] * 6
    expected_V = np.rint(paper_data_uV * 100) / 100 * 1e-6
    np.testing.assert_allclose(raw.get_data(), expected_V, rtol=0, atol=1e-15)
    assert np.abs(raw.get_data() * 1e6 - paper_data_uV).max() <= 0.005 + 1e-9
    assert "rehab-eegemg text v1 from rec.txt" in raw.info["description"]
    assert "sfreq 100 Hz header" in raw.info["description"]
    eeg_pos = np.array([ch["loc"][:3] for ch in raw.info["chs"][:16]])
    assert np.all(np.linalg.norm(eeg_pos, axis=1) > 0.05)  # standard_1005 positions set
    assert raw.filenames[0] == path


def test_writer_exact_bytes_and_determinism(tmp_path):
    data = np.array([[1.234, -0.005, 0.0, 12345.6789], [-1.0, 0.015, -7.5, 2.0]])
    a = write_signals_text(tmp_path / "a.txt", data, ["C3", "EMG_RF"], 1000, decimals=2)
    b = write_signals_text(tmp_path / "b.txt", data.copy(), ["C3", "EMG_RF"], 1000.0, decimals=2)
    text = a.read_text(encoding="utf-8")
    assert text == (
        "# rehab-eegemg 1\n# sfreq: 1000\n# units: uV\n# n_samples: 4\nC3 EMG_RF\n"
        "1.23 -1.00\n0.00 0.02\n0.00 -7.50\n12345.68 2.00\n"
    )
    assert a.read_bytes() == b.read_bytes()
    c = write_signals_text(
        tmp_path / "c.txt", data.astype(np.float32), ["C3", "EMG_RF"], 250.5, decimals=0
    )
    assert c.read_text(encoding="utf-8").splitlines()[1] == "# sfreq: 250.5"
    assert c.read_text(encoding="utf-8").splitlines()[5:] == ["1 -1", "0 0", "0 -8", "12346 2"]


def test_writer_accepts_integers_and_large_values(tmp_path):
    data = np.array([[3, -4_000_000_000], [0, 7]], dtype=np.int64)
    path = write_signals_text(tmp_path / "i.txt", data, ["C3", "C4"], 1000, decimals=1)
    assert path.read_text(encoding="utf-8").splitlines()[5:] == ["3.0 0.0", "-4000000000.0 7.0"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"data_uV": np.zeros(5)},
            ValueError,
            r"data_uV must be 2D \(n_chans, n_times\), got shape \(5,\)",
        ),
        ({"ch_names": ["C3"]}, ValueError, r"n_chans=2 rows in data_uV but 1 ch_names were given"),
        ({"ch_names": ["C3", "C 4"]}, ValueError, r"channel name 'C 4' must be a non-empty string"),
        ({"ch_names": ["C3", "C3"]}, ValueError, r"ch_names must be unique; repeated: C3"),
        ({"sfreq": 0}, ValueError, r"sfreq=0 must be positive"),
        ({"decimals": 7}, ValueError, r"decimals=7 must lie between 0 and 6"),
        ({"decimals": 2.0}, TypeError, r"decimals must be an int, got float"),
        (
            {"data_uV": np.array([[1.0, np.nan], [0.0, 0.0]])},
            ValueError,
            r"data_uV holds NaN or infinite",
        ),
        (
            {"data_uV": np.array([["a", "b"], ["c", "d"]])},
            TypeError,
            r"data_uV must hold real numbers",
        ),
        ({"data_uV": np.full((2, 2), 1e60)}, ValueError, r"data_uV values are too large to write"),
    ],
)
def test_writer_refuses_bad_arguments(tmp_path, kwargs, error, match):
    args = {"data_uV": np.zeros((2, 3)), "ch_names": ["C3", "C4"], "sfreq": 1000.0} | kwargs
    with pytest.raises(error, match=match):
        write_signals_text(tmp_path / "x.txt", **args)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_sfreq_from_sidecar_with_channel_types(tmp_path):
    path = _small_file(tmp_path, header=["# units: mV"])
    (tmp_path / "rec.json").write_text(
        json.dumps({"sfreq": 100, "units": "mV", "channel_types": {"Trigger": "stim"}}),
        encoding="utf-8",
    )
    raw = read_signals(path)
    assert raw.info["sfreq"] == 100
    assert raw.get_channel_types() == ["eeg", "emg", "stim"]
    assert raw.get_data()[0, 0] == pytest.approx(-8.25e-3)  # mV -> V
    assert "sfreq 100 Hz sidecar; units mV" in raw.info["description"]


def test_missing_rate_assumes_paper_rate_with_warning(tmp_path):
    path = _small_file(tmp_path, header=[], n=10_000)
    with pytest.warns(
        DefaultSamplingRateWarning,
        match=r"rec.txt gives no sampling rate .*assuming the paper's 1000 Hz",
    ):
        raw = read_signals(path)
    assert raw.info["sfreq"] == 1000
    assert "sfreq 1000 Hz assumed (none given)" in raw.info["description"]


def test_irregular_whitespace_reads_like_regular(tmp_path):
    regular = _small_file(tmp_path, fname="rec.txt")
    lines = regular.read_text(encoding="utf-8").splitlines()
    messy = lines[:2] + ["", lines[2]] + ["  " + "\t ".join(r.split()) + "  " for r in lines[3:]]
    messy.insert(10, "")
    (tmp_path / "messy.txt").write_bytes(("\r\n".join(messy) + "\r\n").encode("utf-8"))
    tabbed = lines[:3] + ["\t".join(r.split()) for r in lines[3:]]
    (tmp_path / "tabs.txt").write_text("\n".join(tabbed) + "\n", encoding="utf-8")
    reference = read_signals(regular).get_data()
    np.testing.assert_array_equal(read_signals(tmp_path / "messy.txt").get_data(), reference)
    np.testing.assert_array_equal(read_signals(tmp_path / "tabs.txt").get_data(), reference)


def test_utf8_bom_and_unknown_keys_are_accepted(tmp_path):
    path = _small_file(
        tmp_path, header=["# rehab-eegemg 1", "# subject: P01", "# free comment", "# SFREQ: 100 Hz"]
    )
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_signals(path).info["sfreq"] == 100


# ---------------------------------------------------------------- refused files


def test_error_family():
    for cls in (RaggedColumnsError, NonNumericError, EmptyFileError, UnknownFormatError):
        assert issubclass(cls, InputError) and issubclass(cls, ValueError)
    assert set(rio.__all__) >= {"InputError", "read_signals", "read_fmri", "write_signals_text"}


@pytest.mark.parametrize(
    ("index", "row", "match"),
    [
        (7, "1 2", r"^rec.txt line 8 has 2 values but the channel-name line names 3 channels\.$"),
        (
            7,
            "1 2 3 4",
            r"^rec.txt line 8 has 4 values but the channel-name line names 3 channels\.$",
        ),
        (3, "1 2 3 4", r"^rec.txt line 4 has 4 values"),  # first data row: pandas would cut it
        (3, "1 2", r"^rec.txt line 4 has 2 values"),
        (-1, "1  2", r"^rec.txt line 1003 has 2 values"),
    ],
)
def test_ragged_row(tmp_path, index, row, match):
    path = _small_file(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[index] = row
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RaggedColumnsError, match=match):
        read_signals(path)


@pytest.mark.parametrize(
    ("cell", "error", "match"),
    [
        (
            "abc",
            NonNumericError,
            r"rec.txt line 9 column 2 \(EMG_RF\) holds 'abc', which is not a number",
        ),
        ("1,5", NonNumericError, r"line 9 column 2 \(EMG_RF\) holds '1,5', which is not a number"),
        ("NA", NonNumericError, r"line 9 column 2 \(EMG_RF\) holds 'NA', which is not a number"),
        (
            "1_000",
            NonNumericError,
            r"line 9 column 2 \(EMG_RF\) holds '1_000', which is not a number",
        ),
        (
            "True",
            NonNumericError,
            r"line 9 column 2 \(EMG_RF\) holds 'True', which is not a number",
        ),
        (
            "nan",
            NonFiniteError,
            r"rec.txt line 9 column 2 \(EMG_RF\) holds 'nan'; expected a finite number",
        ),
        (
            "-inf",
            NonFiniteError,
            r"line 9 column 2 \(EMG_RF\) holds '-inf'; expected a finite number",
        ),
    ],
)
def test_bad_cell_is_named(tmp_path, cell, error, match):
    path = _small_file(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[8] = f"1.0 {cell} 2.0"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(error, match=match):
        read_signals(path)


def test_line_numbers_count_blank_lines(tmp_path):
    path = _small_file(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[500] = "1 2 x"
    lines.insert(100, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(NonNumericError, match=r"line 502 column 3 \(Trigger\) holds 'x'"):
        read_signals(path)


def test_too_short(tmp_path):
    path = _small_file(tmp_path, n=999)
    with pytest.raises(
        TooShortError,
        match=r"rec.txt holds 9.99 s of signal \(999 samples at 100 Hz\) "
        r"but at least one 10-s window \(1000 samples\)",
    ):
        read_signals(path)


@pytest.mark.parametrize(
    ("header", "sidecar", "match"),
    [
        (
            ["# sfreq: fast"],
            None,
            r"rec.txt header gives sfreq 'fast', which is not a positive number",
        ),
        (["# sfreq: 0"], None, r"rec.txt header gives sfreq '0', which is not a positive number"),
        (["# sfreq: -100"], None, r"header gives sfreq '-100', which is not a positive number"),
        (["# sfreq: nan"], None, r"header gives sfreq 'nan', which is not a positive number"),
        ([], {"sfreq": 0}, r"rec.txt sidecar gives sfreq 0, which is not a positive number"),
        ([], {"sfreq": "fast"}, r"sidecar gives sfreq 'fast', which is not a positive number"),
        ([], {"sfreq": True}, r"sidecar gives sfreq True, which is not a positive number"),
    ],
)
def test_unknown_sampling_rate(tmp_path, header, sidecar, match):
    path = _small_file(tmp_path, header=header)
    if sidecar is not None:
        (tmp_path / "rec.json").write_text(json.dumps(sidecar), encoding="utf-8")
    with pytest.raises(UnknownSamplingRateError, match=match):
        read_signals(path)


def test_header_rate_may_carry_hz(tmp_path):
    path = _small_file(tmp_path, header=["# sfreq: 100Hz"])
    assert read_signals(path).info["sfreq"] == 100


def test_header_and_sidecar_must_agree(tmp_path):
    path = _small_file(tmp_path)
    (tmp_path / "rec.json").write_text('{"sfreq": 200}', encoding="utf-8")
    with pytest.raises(
        HeaderMismatchError, match=r"rec.txt header gives sfreq 100 Hz but its sidecar gives 200 Hz"
    ):
        read_signals(path)
    (tmp_path / "rec.json").write_text('{"sfreq": 100, "units": "V"}', encoding="utf-8")
    with pytest.raises(HeaderMismatchError, match=r"header gives units uV but its sidecar gives V"):
        read_signals(_small_file(tmp_path, header=["# sfreq: 100", "# units: uV"]))


def test_header_lying_about_size(tmp_path):
    path = _small_file(tmp_path, header=["# sfreq: 100", "# n_samples: 5000"])
    with pytest.raises(
        HeaderMismatchError, match=r"^rec.txt header says 5000 samples but the file has 1000\.$"
    ):
        read_signals(path)
    path = _small_file(tmp_path, header=["# sfreq: 100", "# n_samples: many"])
    with pytest.raises(
        CorruptFileError, match=r"rec.txt header gives n_samples 'many'; expected a whole number"
    ):
        read_signals(path)


def test_unknown_unit(tmp_path):
    path = _small_file(tmp_path, header=["# sfreq: 100", "# units: nV"])
    with pytest.raises(
        UnknownUnitError, match=r"rec.txt header gives units 'nV'; expected one of uV, µV, mV or V"
    ):
        read_signals(path)


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(
        EmptyFileError, match=r"^empty.txt is empty \(0 bytes\); expected a recording\.$"
    ):
        read_signals(tmp_path / "empty.txt")
    (tmp_path / "hdr.txt").write_text("# rehab-eegemg 1\n# sfreq: 100\n", encoding="utf-8")
    with pytest.raises(
        EmptyFileError, match=r"hdr.txt holds only header lines; expected a channel-name line"
    ):
        read_signals(tmp_path / "hdr.txt")
    (tmp_path / "names.txt").write_text("# sfreq: 100\nC3 C4\n\n", encoding="utf-8")
    with pytest.raises(EmptyFileError, match=r"names.txt names 2 channels but holds no samples"):
        read_signals(tmp_path / "names.txt")


def test_unknown_extension_and_version(tmp_path):
    (tmp_path / "rec.csv").write_text("C3\n1\n", encoding="utf-8")
    with pytest.raises(
        UnknownFormatError,
        match=r"rec.csv is not a supported EEG-EMG recording; "
        r"expected one of \.txt, \.edf, \.bdf, \.vhdr, \.fif, \.fif\.gz, \.set\.",
    ):
        read_signals(tmp_path / "rec.csv")
    path = _small_file(tmp_path, header=["# rehab-eegemg 2", "# sfreq: 100"])
    with pytest.raises(
        UnknownFormatError,
        match=r"rec.txt is rehab-eegemg text version 2; this reader understands version 1",
    ):
        read_signals(path)


def test_missing_file_is_not_an_input_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.txt"):
        read_signals(tmp_path / "nope.txt")


def test_bad_channel_names(tmp_path):
    _write_lines(tmp_path / "nums.txt", ["# sfreq: 100"], ["1.5", "2.5"], ["1 2"] * 1000)
    with pytest.raises(
        ChannelNamesError,
        match=r"nums.txt line 2 should name the channels but holds the number 1.5",
    ):
        read_signals(tmp_path / "nums.txt")
    _write_lines(tmp_path / "dup.txt", ["# sfreq: 100"], ["C3", "C4", "C3"], ["1 2 3"] * 1000)
    with pytest.raises(ChannelNamesError, match=r"dup.txt names channel\(s\) C3 more than once"):
        read_signals(tmp_path / "dup.txt")


@pytest.mark.parametrize(
    ("sidecar", "error", "match"),
    [
        (
            '{"channel_types": {"C5": "eeg"}}',
            ChannelNamesError,
            r"rec.txt sidecar gives a type for channel 'C5', which the file does not have",
        ),
        (
            '{"channel_types": {"C3": "brain"}}',
            ChannelNamesError,
            r"sidecar gives channel C3 the type 'brain'; expected one of eeg, emg",
        ),
        (
            '{"channel_types": ["C3"]}',
            ChannelNamesError,
            r"sidecar gives channel_types as a JSON list",
        ),
        (
            "{sfreq: 100",
            CorruptFileError,
            r"rec.json \(the sidecar of rec.txt\) is not valid UTF-8 JSON",
        ),
        (
            "[100]",
            CorruptFileError,
            r"rec.json \(the sidecar of rec.txt\) holds a JSON list; expected an object",
        ),
    ],
)
def test_bad_sidecar(tmp_path, sidecar, error, match):
    path = _small_file(tmp_path)
    (tmp_path / "rec.json").write_text(sidecar, encoding="utf-8")
    with pytest.raises(error, match=match):
        read_signals(path)


def test_binary_garbage_is_corrupt(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"\x00\xff\xfe\x80" * 100)
    with pytest.raises(CorruptFileError, match=r"bin.txt line 1 is not UTF-8 text"):
        read_signals(tmp_path / "bin.txt")
    path = _small_file(tmp_path)
    path.write_bytes(path.read_bytes() + b"1 2 \xff\n")
    with pytest.raises(CorruptFileError, match=r"rec.txt line 1004 is not UTF-8 text"):
        read_signals(path)


def test_no_warning_when_rate_is_given(tmp_path, paper_data_uV):
    path = write_signals_text(tmp_path / "rec.txt", paper_data_uV, PAPER_CHANNELS, SFREQ)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raw = read_signals(path)
    assert raw.n_times == N_TIMES
    assert tuple(raw.ch_names[:16]) == PAPER_EEG_CHANNELS
    assert tuple(raw.ch_names[16:]) == PAPER_EMG_CHANNELS


def test_error_deep_in_a_long_file_is_located_exactly(tmp_path):
    # More rows than one 32768-line block, so the block-wise diagnosis is exercised.
    path = _small_file(tmp_path, n=40_000)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[35_000] = "1 2 oops"
    lines.insert(20, "")
    lines.insert(33_000, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        NonNumericError, match=r"^rec.txt line 35003 column 3 \(Trigger\) holds 'oops'"
    ):
        read_signals(path)
    lines[35_002] = "1 2 3"
    lines[39_000] = "5  6\t7 "  # irregular but valid: data row 39000 - 3 header - 2 blank
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    raw = read_signals(path)
    assert raw.n_times == 40_000
    np.testing.assert_allclose(raw.get_data()[:, 38_995], [5e-6, 6e-6, 7e-6])
