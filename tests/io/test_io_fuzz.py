"""Hostile and broken input: every reader, fed random bytes and mutated valid files.

Contract: a reader returns a valid object or raises an :class:`InputError` whose
message is one sentence naming the file; never another exception, never a hang
(a per-example deadline), and an upload the store refuses leaves no row, file or
temporary copy. Examples are derandomised so CI sees the same ones every run.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehab_core.io import InputError, read_fmri, read_signals
from rehab_core.io.cohort import read_cohort

pytestmark = pytest.mark.filterwarnings("ignore")  # readers may warn about odd headers

NAMES = ["C3", "C4", "EMG_RF"]
FORMATS = [".txt", ".edf", ".bdf", ".vhdr", "_raw.fif", ".set", ".nii", ".nii.gz"]
# A slow format (EEGLAB is first parsed in a child process) gets fewer examples.
EXAMPLES = {".set": 4, ".vhdr": 12}


def _examples(n: int) -> int:
    """``n`` examples; at most the profile's under ``--hypothesis-profile=fast`` (make check)."""
    if settings.get_current_profile_name() == "fast":
        return min(n, settings.default.max_examples)
    return n


FUZZ = dict(
    derandomize=True,
    database=None,
    deadline=dt.timedelta(seconds=15),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, write_bdf) -> dict[str, Path]:
    """One small valid file per format (10 s at 100 Hz; 50 fMRI volumes at TR 2 s)."""
    import edfio
    import mne
    import nibabel as nib

    from rehab_core.io import write_signals_text

    folder = tmp_path_factory.mktemp("seeds")
    rng = np.random.default_rng(0)
    data = rng.normal(0, 20, (3, 1000))
    files = {".txt": write_signals_text(folder / "s.txt", data, NAMES, 100.0)}
    signals = [
        edfio.EdfSignal(d, 100, label=n, physical_dimension="uV", physical_range=(-200, 200))
        for d, n in zip(data, NAMES, strict=True)
    ]
    edfio.Edf(signals).write(folder / "s.edf")
    files[".edf"] = folder / "s.edf"
    samples = rng.integers(-(2**20), 2**20, size=(10, 3, 100))
    write_bdf(folder / "s.bdf", samples, NAMES)
    files[".bdf"] = folder / "s.bdf"
    raw = mne.io.RawArray(data * 1e-6, mne.create_info(NAMES, 100.0, ["eeg", "eeg", "emg"]))
    raw.save(folder / "s_raw.fif", verbose="error")
    files["_raw.fif"] = folder / "s_raw.fif"
    for fmt, suffix in (("eeglab", ".set"), ("brainvision", ".vhdr")):
        mne.export.export_raw(folder / f"s{suffix}", raw, fmt=fmt, verbose="error")
        files[suffix] = folder / f"s{suffix}"
    img = nib.Nifti1Image(rng.normal(100, 5, (3, 3, 2, 50)).astype(np.float32), np.eye(4) * 2)
    img.header.set_zooms((2, 2, 2, 2.0))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, folder / "b.nii")
    files[".nii"] = folder / "b.nii"
    (folder / "b.nii.gz").write_bytes(gzip.compress(img.to_bytes(), mtime=0))
    files[".nii.gz"] = folder / "b.nii.gz"
    for suffix, path in files.items():  # every seed is valid: mutations start from a good file
        (read_fmri if suffix.startswith(".nii") else read_signals)(path)
    return files


def _mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, a truncation, or a few bytes overwritten (mostly in the header)."""
    n = len(seed)

    def flip(changes: list[tuple[int, int]]) -> bytes:
        out = bytearray(seed)
        for pos, value in changes:
            out[pos] = value
        return bytes(out)

    position = st.one_of(st.integers(0, min(n, 512) - 1), st.integers(0, n - 1))
    return st.one_of(
        st.binary(max_size=2048),
        st.integers(0, n - 1).map(lambda k: seed[:k]),
        st.lists(st.tuples(position, st.integers(0, 255)), min_size=1, max_size=6).map(flip),
    )


def _valid_result(result) -> None:
    """What a reader may return: a finite >=10-s Raw, or a finite 4D float32 image."""
    if hasattr(result, "ch_names"):  # an mne Raw
        data = result.get_data()
        assert data.shape[0] >= 1 and np.isfinite(data).all()
        assert result.n_times >= 10 * result.info["sfreq"]
    else:
        assert result.ndim == 4 and result.get_data_dtype() == np.float32
        assert np.isfinite(np.asanyarray(result.dataobj)).all()
        assert 0.1 <= result.header.get_zooms()[3] <= 10


def _check_refusal(err: InputError, name: str) -> None:
    message = str(err)
    assert name in message, message
    assert "\n" not in message and message.endswith("."), message
    assert "Traceback" not in message


def _write(folder: Path, suffix: str, content: bytes, seeds: dict[str, Path]) -> Path:
    path = folder / f"x{suffix}"
    path.write_bytes(content)
    if suffix == ".vhdr":  # the header is fuzzed; its marker and data files come along intact
        text = content.replace(b"s.eeg", b"x.eeg").replace(b"s.vmrk", b"x.vmrk")
        path.write_bytes(text)
        for companion in (".eeg", ".vmrk"):
            shutil.copy(seeds[".vhdr"].with_suffix(companion), folder / f"x{companion}")
    return path


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_reader_returns_a_valid_object_or_one_sentence(seeds, suffix):
    read = read_fmri if suffix.startswith(".nii") else read_signals
    seed = seeds[suffix].read_bytes()

    @settings(max_examples=_examples(EXAMPLES.get(suffix, 30)), **FUZZ)
    @given(content=_mutated(seed))
    def fuzz(content: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = _write(Path(folder), suffix, content, seeds)
            try:
                result = read(path)
            except InputError as err:
                _check_refusal(err, path.name)
            else:
                _valid_result(result)

    fuzz()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from rehab_core.storage import open_store

    folder = tmp_path_factory.mktemp("fuzz_store")
    s = open_store(url=f"sqlite:///{folder / 'rehab.db'}", data_dir=folder / "data")
    yield s
    s.close()


def _stored_files(store) -> set[Path]:
    return {p for p in (store.data_dir / "files").rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("kind", "suffix"),
    [("signals", ".txt"), ("signals", ".edf"), ("signals", "_raw.fif"), ("fmri", ".nii.gz")],
)
def test_store_refusal_leaves_no_row_file_or_temporary_copy(seeds, store, kind, suffix):
    seed = seeds[suffix].read_bytes()
    patient = store.create_patient(f"FUZZ{suffix}")
    name = f"upload{suffix}"

    @settings(max_examples=_examples(15), **FUZZ)
    @given(content=_mutated(seed))
    def fuzz(content: bytes) -> None:
        before_rows = len(store.uploads(patient.id))
        before_files = _stored_files(store)
        try:
            record = store.add_upload(patient.id, kind, name, content)
        except InputError as err:
            _check_refusal(err, name)
            assert len(store.uploads(patient.id)) == before_rows
            assert _stored_files(store) == before_files
        else:
            assert record.path.is_file() and record.path in _stored_files(store)
        tmp = store.data_dir / "tmp"  # no validation copy left behind
        assert not tmp.exists() or not any(tmp.iterdir())

    fuzz()


COHORT_TSV = (
    b"participant_id\tage\tfma_le_3m\toutcome\nsub-001\t61\t25\tgood\nsub-002\t70\t9\tpoor\n"
)


def test_cohort_reader_on_a_mutated_participants_table(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    for pid in ("sub-001", "sub-002"):
        (root / pid / "eeg").mkdir(parents=True)
        (root / pid / "eeg" / f"{pid}_eegemg.txt").write_bytes(b"")

    @settings(max_examples=_examples(150), **FUZZ)
    @given(content=_mutated(COHORT_TSV))
    def fuzz(content: bytes) -> None:
        (root / "participants.tsv").write_bytes(content)
        try:
            cohort = read_cohort(root)
        except InputError as err:
            message = str(err)
            assert root.name in message and "\n" not in message and message.endswith(".")
        else:
            assert len(cohort) >= 1
            for patient in cohort.patients:
                assert patient.signals_path is None or patient.signals_path.is_relative_to(root)
                assert 0 <= patient.fma_le_3m <= 34

    fuzz()


@pytest.mark.parametrize("pid", ["../outside", "/etc", "a\\b", "..", "C:x", ""])
def test_cohort_ids_that_are_not_folder_names_are_refused(tmp_path, pid):
    (tmp_path / "participants.tsv").write_text(f"participant_id\tfma_le_3m\n{pid}\t20\n")
    with pytest.raises(InputError, match=r"is not a plain folder name; expected ids such as"):
        read_cohort(tmp_path)
