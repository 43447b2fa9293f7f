"""`make run` listens on this machine only unless told otherwise (issue 14, finding 1)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _run_command(*variables: str) -> str:
    """The command `make run` would run (dry run; the setup step is not remade)."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "setup", "run", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    (line,) = [x for x in done.stdout.splitlines() if "streamlit run app.py" in x]
    return line


def test_make_run_binds_to_localhost_by_default():
    assert "--server.address 127.0.0.1 " in _run_command()


def test_make_run_binds_elsewhere_only_when_told():
    assert "--server.address 0.0.0.0 " in _run_command("HOST=0.0.0.0")
