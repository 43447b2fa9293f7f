"""Fixtures for the job tests: a store in a temporary folder and settings of a fast job."""

from __future__ import annotations

import time

import pytest


def _stop_job_processes(data_dir) -> None:
    """SIGKILL the runner and workers a test left on ``data_dir`` (a test that timed out).

    Without this, a job whose test failed at load kept training in the background
    for the rest of the session, slowing every later test.
    """
    import os
    import signal
    from pathlib import Path

    wanted = f"REHAB_DATA_DIR={data_dir}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"rehab_core.jobs." not in cmdline:
                continue
            if wanted in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read


@pytest.fixture
def store(tmp_path):
    """A store on SQLite in a temporary folder (the runner tests start real processes on it)."""
    from rehab_core.storage import open_store

    s = open_store(data_dir=tmp_path / "data")
    yield s
    s.close()
    _stop_job_processes(s.data_dir)


@pytest.fixture
def any_store(db_url, tmp_path):
    """A store on SQLite and, in a second run, on a real PostgreSQL server (tests/_postgres.py)."""
    from rehab_core.storage import open_store

    s = open_store(url=db_url, data_dir=tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def fast_job(tiny_experiment_settings):
    """``fast_job(**overrides)``: (experiment, imaging) settings of a job that trains in seconds.

    The tiny cohort's settings, with 64 x 64 slices instead of 224 x 224: the
    job path is what is under test, not the network.
    """
    from rehab_core.imaging import ImagingSettings

    def make(**overrides):
        return tiny_experiment_settings(**overrides), ImagingSettings(image_size=64)

    return make


def _wait_for(predicate, *, timeout: float, what: str, log=lambda: ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n--- log ---\n{log()}")


@pytest.fixture
def wait_for():
    """``wait_for(predicate, timeout=, what=, log=)``: poll every 0.2 s, fail with the job log."""
    return _wait_for


@pytest.fixture(scope="session")
def fast_job_arrays(tiny_cohort, tmp_path_factory):
    """The tiny cohort preprocessed once as a ``fast_job`` job preprocesses it (a kept
    ``arrays/`` folder of a work folder).

    A job whose test is about processes, cancels or failures, not preprocessing,
    starts from a copy of it (``keep_arrays``) instead of spending most of its
    time preprocessing the 20 patients again.
    """
    from pathlib import Path

    from rehab_core.imaging import ImagingSettings
    from rehab_core.io.cohort import read_cohort
    from rehab_core.signals import SignalSettings
    from rehab_core.workflows._train.work_folder import WorkFolder, preprocess_cohort

    work = WorkFolder(tmp_path_factory.mktemp("fast_job_work"))
    cohort = read_cohort(Path(tiny_cohort).resolve())  # submit_job resolves the path too
    preprocess_cohort(
        cohort, work, SignalSettings(), ImagingSettings(image_size=64), 2, lambda event: None
    )
    return work.path / "arrays"


@pytest.fixture
def keep_arrays(store, fast_job_arrays):
    """``keep_arrays(job)``: the job finds the tiny cohort's arrays kept from a 'last start'.

    Only for jobs submitted with ``fast_job()``'s imaging settings (and the
    default EEG-EMG ones); the worker checks the settings and every file's size
    and time, and preprocesses again if anything differs, which the job's log
    would then show (no "kept from the last start").
    """
    import shutil

    from rehab_core.jobs import job_dir

    def keep(job) -> None:
        shutil.copytree(fast_job_arrays, job_dir(store, job.id) / "work" / "arrays")

    return keep
