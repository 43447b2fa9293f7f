"""The browser-test harness itself: the server starts healthy and leaves nothing behind."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest
import streamlit_browser
from streamlit_browser import chromium_missing_reason, free_port, streamlit_server


class _Boom(Exception):
    pass


@pytest.mark.slow
@pytest.mark.processes
def test_server_answers_then_its_process_group_is_gone_even_after_an_error(tmp_path):
    with pytest.raises(_Boom):
        with streamlit_server(tmp_path / "data", tmp_path / "streamlit.log") as server:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=10) as answer:
                assert answer.status == 200
                assert answer.read() == b"ok"
            raise _Boom
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)  # no process of the server's group is left
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2)
    assert "Uvicorn server started" in (tmp_path / "streamlit.log").read_text()


_KILLED_HOLDER = """
import sys, time
sys.path.insert(0, {here!r})
from pathlib import Path
from streamlit_browser import streamlit_server
with streamlit_server(Path({data!r}), Path({log!r})) as server:
    print(server.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.processes
def test_a_terminated_holder_still_ends_the_server(tmp_path):
    """SIGTERM to the process holding the server (a CI timeout) does not leak the server."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script = _KILLED_HOLDER.format(
        here=str(Path(streamlit_browser.__file__).parent),
        data=str(tmp_path / "data"),
        log=str(tmp_path / "streamlit.log"),
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(holder.stdout.readline())
        os.killpg(server_pid, 0)  # running
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(ProcessLookupError):
        os.killpg(server_pid, 0)


def test_a_server_that_cannot_start_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(streamlit_browser, "ROOT", tmp_path)  # no app.py there
    with pytest.raises(RuntimeError, match="streamlit exited with status"):
        with streamlit_server(tmp_path / "data", tmp_path / "streamlit.log", timeout_s=60):
            pass


def test_missing_chromium_is_a_stated_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(streamlit_browser, "CHROMIUM", tmp_path / "chromium")
    reason = chromium_missing_reason()
    assert reason is not None
    assert "apt-get install chromium" in reason
    assert str(tmp_path / "chromium") in reason


def test_free_port_is_bindable():
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
