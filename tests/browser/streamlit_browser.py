"""Run ``streamlit run app.py`` on a free port and drive it with Debian's Chromium.

Shared by the browser test (``tests/browser/``) and the UI benchmark
(``bench/bench_ui.py``, which puts this folder on ``sys.path``).

The browser is Debian's ``chromium`` (``make test`` installs it as root with
apt-get); Playwright only drives it (``executable_path``), it never downloads
a browser of its own. Chromium gets the flags this sandboxed, offline machine
needs: no sandbox as root, no GPU, and no background connections to Google
services, which the closed network refuses.

Streamlit's own end-to-end tests know an app is idle when the root element
``[data-testid="stApp"]`` has ``data-test-script-state="notRunning"``; the
"Running..." status widget (``stStatusWidget``) is drawn from the same state.
Right after a click that attribute may still say ``notRunning`` (the rerun
request has not reached the server yet), so :func:`rerun` counts the
transitions with a ``MutationObserver`` installed before the page loads and
waits for one more completed run than before the action.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"

# Counts Streamlit script runs from the root element's data-test-script-state attribute:
# ``started`` when it turns to running, ``finished`` when it returns to notRunning.
_RUN_WATCH = """
(() => {
  const st = { started: 0, finished: 0, state: null, tFinished: 0 };
  window.__streamlitRuns = st;
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const value = m.target.getAttribute('data-test-script-state');
      if (value === st.state) continue;
      if (value === 'running') st.started += 1;
      if (value === 'notRunning' && st.state !== null && st.state !== 'initial') {
        st.finished += 1;
        st.tFinished = performance.now();
      }
      st.state = value;
    }
  }).observe(document, {
    subtree: true, attributes: true, attributeFilter: ['data-test-script-state'],
  });
})();
"""


class AppServer(NamedTuple):
    """A running ``streamlit run app.py``: its URL and process (group) id."""

    url: str
    pid: int


def chromium_missing_reason() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if not CHROMIUM.is_file():
        return (
            f"{CHROMIUM} is missing: install Debian's chromium as root "
            "(apt-get install chromium; `make test` does it when run as root)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: run `make setup`"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen) -> None:
    """End the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, n_chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-n_chars:] if path.is_file() else ""


@contextlib.contextmanager
def streamlit_server(
    data_dir: Path, log_path: Path, *, timeout_s: float = 120.0
) -> Iterator[AppServer]:
    """Start ``streamlit run app.py`` with a private data folder; yield its URL and pid.

    Parameters
    ----------
    data_dir : Path
        ``REHAB_DATA_DIR`` of the server: its database and stored uploads.
    log_path : Path
        The server's stdout and stderr go here (kept for a failing test).
    timeout_s : float
        How long the server may take to answer ``/_stcore/health``.

    The server runs in its own session (process group), which is ended on exit
    from the ``with`` block, also when the block raises.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REHAB_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("REHAB_DATABASE_URL", None)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        # nothing edits the sources while it runs; watching them (and .venv) only costs CPU
        "--server.fileWatcherType",
        "none",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with status {proc.returncode}:\n{_tail(log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"streamlit did not answer {url}/_stcore/health within {timeout_s:g} s:\n"
                    f"{_tail(log_path)}"
                )
            time.sleep(0.2)
        yield AppServer(url, proc.pid)
    finally:
        _stop(proc)


@contextlib.contextmanager
def chromium_page(*, width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium (run-counting script installed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height}, accept_downloads=True
            )
            context.add_init_script(_RUN_WATCH)
            yield context.new_page()
        finally:
            browser.close()


def finished_runs(page: Any) -> int:
    """How many script runs the page has seen finish since it was loaded."""
    return int(page.evaluate("window.__streamlitRuns ? window.__streamlitRuns.finished : 0"))


def wait_idle(page: Any, *, after: int = -1, timeout_ms: float = 60_000) -> None:
    """Wait until more than ``after`` runs have finished and the app is not running."""
    page.wait_for_function(
        """(after) => {
            const st = window.__streamlitRuns;
            const app = document.querySelector('[data-testid="stApp"]');
            return st && app && st.finished > after
                && app.getAttribute('data-test-script-state') === 'notRunning';
        }""",
        arg=after,
        timeout=timeout_ms,
    )


def rerun(page: Any, action: Callable[[], object], *, timeout_ms: float = 60_000) -> float:
    """Do ``action`` (which makes Streamlit rerun) and wait for the app to be idle again.

    Returns
    -------
    float
        Seconds from just before the action to the end of the run, as the
        browser's clock saw them.
    """
    before = finished_runs(page)
    t0 = page.evaluate("performance.now()")
    action()
    wait_idle(page, after=before, timeout_ms=timeout_ms)
    return (page.evaluate("window.__streamlitRuns.tFinished") - t0) / 1000.0


def open_app(page: Any, url: str, *, timeout_ms: float = 60_000) -> float:
    """Load the app and wait for its first run to finish; seconds from navigation."""
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    wait_idle(page, after=0, timeout_ms=timeout_ms)
    return time.perf_counter() - t0


def go_to_page(page: Any, title: str, *, timeout_ms: float = 60_000) -> float:
    """Click ``title`` in the sidebar navigation and wait for the page's run to finish."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    return rerun(page, link.click, timeout_ms=timeout_ms)


def remove_tree(path: Path) -> None:
    """Delete a folder if it exists (screenshots of a previous run)."""
    shutil.rmtree(path, ignore_errors=True)
