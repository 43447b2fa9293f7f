"""`make setup` says in one sentence when the disk cannot hold the environment (CI once ran out
of space halfway through pip's install of PyTorch's CUDA libraries)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _setup_in(folder: Path, *variables: str) -> subprocess.CompletedProcess:
    """`make setup` in a copy of the Makefile whose venv's python is this interpreter."""
    shutil.copy(ROOT / "Makefile", folder / "Makefile")
    for name in ("requirements.lock", "pyproject.toml"):
        (folder / name).write_text("")
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # A wrapper, not a symlink: the check must run, and pip must never be reached in this test.
    (bin_dir / "python").write_text(
        f'#!/bin/sh\nif [ "$1" = "-m" ]; then echo "pip was run" >&2; exit 3; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    (bin_dir / "python").chmod(0o755)
    return subprocess.run(
        ["make", "--no-print-directory", "setup", *variables],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
    )


def test_setup_refuses_a_disk_too_small_before_pip_starts(tmp_path):
    done = _setup_in(tmp_path, "NEED_GB=1000000")
    assert done.returncode != 0
    assert "The Python environment needs about 1000000 GB on the disk of" in done.stderr
    assert "free some space and run make again." in done.stderr
    assert "pip was run" not in done.stderr


def test_setup_goes_on_to_pip_when_the_disk_has_room(tmp_path):
    done = _setup_in(tmp_path, "NEED_GB=0")
    assert "pip was run" in done.stderr
    assert "needs about" not in done.stderr
