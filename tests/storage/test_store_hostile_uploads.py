"""The store refuses the hostile uploads of issue 14 in one sentence and stores nothing.

Every upload is de-identified and read in a sandboxed child process
(``rehab_core.io.sandbox``); the header checks refuse these files before any
reader unpacks or follows them. Time and memory: ``bench/bench_hostile_uploads.py``.
"""

from __future__ import annotations

import functools
import time

import _hostile
import pytest

from rehab_core.io import InputError, ResourceLimitError
from rehab_core.io.sandbox import Limits, run_limited
from rehab_core.storage import uploads as store_module


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return [
        ("signals", "rec_raw.fif", _hostile.self_referencing_fif(folder / "fif")),
        ("signals", "bomb_raw.fif.gz", _hostile.fif_gz_bomb(folder / "bomb_raw.fif.gz")),
        ("signals", "bomb.set", _hostile.eeglab_bomb(folder / "bomb.set")),
        ("fmri", "bomb.nii.gz", _hostile.nifti_gz_bomb(folder / "bomb.nii.gz")),
        ("signals", "names.txt", _hostile.many_channel_names(folder / "names.txt")),
    ]


def _leftovers(store) -> list:
    tmp = store.data_dir / "tmp"
    return sorted(tmp.rglob("*")) if tmp.exists() else []


def test_each_hostile_upload_is_refused_and_nothing_is_kept(store, patient, hostile_files):
    for kind, name, path in hostile_files:
        with pytest.raises(InputError) as err:
            store.add_upload(patient.id, kind, name, path)
        message = str(err.value)
        assert message.startswith(f"{name} ") and "\n" not in message, message
        assert "upload-" not in message and "in_raw" not in message  # the user's name only
    assert store.uploads(patient.id) == []
    assert not (store.data_dir / "files").exists() or not any((store.data_dir / "files").rglob("*"))
    assert _leftovers(store) == []


def test_de_identification_copies_stay_in_the_data_folder(store, patient, tmp_path, monkeypatch):
    import tempfile

    system_tmp = tmp_path / "system_tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    seen = []
    real = tempfile.TemporaryDirectory

    def spy(*args, **kwargs):
        folder = real(*args, **kwargs)
        seen.append(folder.name)
        return folder

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    import mne
    import numpy as np

    info = mne.create_info(["C3", "C4", "EMG_RF"], 100.0, ["eeg", "eeg", "emg"])
    raw = mne.io.RawArray(np.random.default_rng(0).normal(size=(3, 1500)) * 1e-5, info)
    raw.info["experimenter"] = "Dr Who"
    src = tmp_path / "named_raw.fif"
    raw.save(src, verbose="error")
    store.add_upload(patient.id, "signals", "named_raw.fif", src)
    deid = [f for f in seen if "deid-" in f]
    assert deid and all(f.startswith(str(store.data_dir / "tmp")) for f in deid)
    assert list(system_tmp.iterdir()) == []


def test_a_reader_that_hangs_is_stopped_and_the_store_keeps_serving(
    store, patient, monkeypatch, signals_bytes
):
    """What the sandbox is for: a file no header check knows about still cannot stop the server."""
    monkeypatch.setattr(store_module, "check_upload", _hostile.hang)
    monkeypatch.setattr(
        store_module, "run_limited", functools.partial(run_limited, limits=Limits(wall_s=2))
    )
    start = time.monotonic()
    with pytest.raises(ResourceLimitError, match=r"^rec\.txt could not be read within 2 s"):
        store.add_upload(patient.id, "signals", "rec.txt", signals_bytes)
    assert time.monotonic() - start < 30
    assert store.uploads(patient.id) == [] and _leftovers(store) == []
    monkeypatch.undo()
    assert store.add_upload(patient.id, "signals", "rec.txt", signals_bytes).kind == "signals"
