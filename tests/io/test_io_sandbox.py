"""rehab_core.io.sandbox: a child process with CPU, wall and memory limits, answering in JSON."""

from __future__ import annotations

import os
import time

import pytest

from rehab_core.io import CorruptFileError, ResourceLimitError, read_signals
from rehab_core.io.sandbox import Limits, SandboxError, in_sandbox, run_limited


def test_the_function_runs_in_another_process_and_its_result_comes_back():
    stats: dict = {}
    assert run_limited(os.getpid, stats=stats) != os.getpid()
    assert stats["outcome"] == "ok" and stats["wall_s"] > 0
    assert run_limited(divmod, 7, 2) == [3, 1]  # JSON: a tuple comes back as a list
    assert not in_sandbox()


def test_an_input_error_comes_back_as_itself(tmp_path):
    garbage = tmp_path / "rec.edf"
    garbage.write_bytes(b"not an EDF file at all" * 20)
    with pytest.raises(CorruptFileError, match=r"^rec\.edf could not be read as EDF"):
        run_limited(read_signals, str(garbage))


def test_a_built_in_error_comes_back_as_itself(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        run_limited(os.stat, str(tmp_path / "missing"))


def test_a_result_that_is_not_json_is_refused_rather_than_unpickled():
    # the child never sends a pickle: a subverted child could only send wrong data, not code
    with pytest.raises(TypeError, match="result is not JSON"):
        run_limited(set, [1, 2])


def test_wall_time_limit_stops_a_child_that_blocks():
    stats: dict = {}
    start = time.monotonic()
    with pytest.raises(ResourceLimitError, match=r"^rec\.fif could not be read within 1 s"):
        run_limited(time.sleep, 60, limits=Limits(wall_s=1), what="rec.fif", stats=stats)
    assert time.monotonic() - start < 30 and stats["outcome"] == "wall_limit"


def test_cpu_time_limit_stops_a_child_that_computes():
    with pytest.raises(ResourceLimitError, match=r"needed more than 1 s of processing"):
        run_limited(sum, range(10**12), limits=Limits(cpu_s=1, wall_s=60))


def test_memory_limit_stops_a_child_that_allocates():
    with pytest.raises(ResourceLimitError, match=r"^big\.set needed more than 200 MB of memory"):
        run_limited(bytearray, 10**9, limits=Limits(memory_mb=200), what="big.set")


def test_a_crashing_child_becomes_one_sentence():
    with pytest.raises(ResourceLimitError, match=r"^x\.set made the file reader stop abruptly"):
        run_limited(os.abort, what="x.set")


def test_an_unknown_exception_type_is_a_sandbox_error():
    import json

    with pytest.raises(SandboxError, match="JSONDecodeError"):
        run_limited(json.loads, "{")


def test_the_child_never_runs_the_callers_main_script(tmp_path, monkeypatch):
    """Streamlit runs each page script as ``__main__``; a child must not import it again.

    Before the fix the forkserver child re-ran the running script (here one that
    cannot even be imported), so every upload check inside a page died with
    "made the file reader stop abruptly (exit 1)".
    """
    import sys
    import types

    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('the page script ran in the sandbox child')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    page.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", page)
    assert run_limited(os.getpid) != os.getpid()
