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
Right after a click that attribute still says ``notRunning`` (the rerun
request has not reached the server yet), and a fast run may never show
``running`` at all, so a script installed before the page loads counts the
server's "script finished" messages on the WebSocket, and :func:`rerun`
waits for one more finished run than before the action, then for the
attribute to say ``notRunning``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
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

# Counts finished Streamlit script runs from the server's own messages: every WebSocket
# frame is one ForwardMsg (protobuf); a top-level field 6 (script_finished, a varint status)
# ends a run, except status 2 (FINISHED_EARLY_FOR_RERUN: another run follows at once).
# The run is idle from the first animation frame after that message in which the root
# element says data-test-script-state="notRunning" (what hides the status widget).
# Counting messages rather than attribute changes matters: a fast run's "running" state
# can be batched away by React and never reach the DOM.
_RUN_WATCH = """
(() => {
  const SCRIPT_FINISHED = 6, FINISHED_EARLY_FOR_RERUN = 2;
  const st = { finished: 0, idle: 0, tMessage: 0, tFinished: 0 };
  window.__streamlitRuns = st;
  const finishedStatus = (bytes) => {
    let i = 0;
    const varint = () => {
      let value = 0, shift = 0, b;
      do { b = bytes[i++]; value += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
      return value;
    };
    while (i < bytes.length) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag & 7;
      if (wire === 0) { const v = varint(); if (field === SCRIPT_FINISHED) return v; }
      else if (wire === 2) { const n = varint(); i += n; }  // not i += varint(): i is read first
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return -1;
    }
    return -1;
  };
  const whenIdle = (run) => () => {
    if (st.finished !== run) return;  // a newer run took over
    const app = document.querySelector('[data-testid="stApp"]');
    if (app && app.getAttribute('data-test-script-state') === 'notRunning') {
      st.idle = run;
      st.tFinished = performance.now();
    } else requestAnimationFrame(whenIdle(run));
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        if (!(event.data instanceof ArrayBuffer)) return;
        const status = finishedStatus(new Uint8Array(event.data));
        if (status < 0 || status === FINISHED_EARLY_FOR_RERUN) return;
        st.finished += 1;
        st.tMessage = performance.now();
        requestAnimationFrame(whenIdle(st.finished));
      });
    }
  };
})();
"""


# Arms a MutationObserver that records in window.__shownAt the performance.now() at which the
# page first shows what a predicate (a JS function body of ``arg`` returning a boolean) looks
# for; armed before an action, a change that appears while the run is still going is timed
# when it appears. Evaluate with ``[predicate_body, arg]``.
SHOWN_WATCH = """([body, arg]) => {
    const predicate = new Function('arg', body);
    window.__shownAt = null;
    const check = () => {
        if (window.__shownAt === null && predicate(arg)) window.__shownAt = performance.now();
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    window.__shownObserver = observer;
}"""
# SHOWN_WATCH predicate: the Prediction page shows a probability of a good outcome.
PROBABILITY_SHOWN = """
    const metrics = document.querySelectorAll('[data-testid="stMetric"]');
    const m = [...metrics].find((e) => e.textContent.includes('Probability of a good outcome'));
    const v = m && m.querySelector('[data-testid="stMetricValue"]');
    return Boolean(v && /^[01]\\.\\d\\d$/.test(v.textContent.trim()));
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
    data_dir: Path,
    log_path: Path,
    *,
    timeout_s: float = 120.0,
    options: Sequence[str] = (),
    port: int | None = None,
    env: Mapping[str, str] | None = None,
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
    options : sequence of str
        More command-line arguments for ``streamlit run`` (e.g. ``--runner.postScriptGC``,
        ``false``).
    port : int | None
        The port to listen on (127.0.0.1); None picks a free one.
    env : mapping of str to str | None
        More environment variables for the server (e.g. ``PYTHONPATH``).

    The server runs in its own session (process group), which is ended on exit
    from the ``with`` block, also when the block raises.
    """
    port = free_port() if port is None else port
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **(env or {}), "REHAB_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("REHAB_DATABASE_URL", None)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",  # the dashboard and its session-cookie routes, as make run starts it
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
        *options,
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _sigterm_as_exit():
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_healthy(proc, url, log_path, timeout_s)
            yield AppServer(url, proc.pid)
        finally:
            _stop(proc)


def _wait_healthy(proc: subprocess.Popen, url: str, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with status {proc.returncode}:\n{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"streamlit did not answer {url}/_stcore/health within {timeout_s:g} s:\n"
                f"{_tail(log_path)}"
            )
        time.sleep(0.2)


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Within the block, SIGTERM (a CI timeout, ``kill``) raises SystemExit, so ``finally``
    clauses still end the server; Python's default for SIGTERM is to die on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    if previous is None:  # installed outside Python: restore the default
        previous = signal.SIG_DFL
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def chromium_browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, *, width: int = 1400, height: int = 1000) -> Any:
    """A page in a fresh browser context (a new Streamlit session), run counting installed."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.add_init_script(_RUN_WATCH)
    return context.new_page()


@contextlib.contextmanager
def chromium_page(*, width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """One page in its own headless Chromium, closed on exit."""
    with chromium_browser() as browser:
        yield new_page(browser, width=width, height=height)


def finished_runs(page: Any) -> int:
    """How many script runs the page has seen finish since it was loaded."""
    return int(page.evaluate("window.__streamlitRuns ? window.__streamlitRuns.finished : 0"))


def wait_idle(page: Any, *, after: int = -1, timeout_ms: float = 60_000) -> None:
    """Wait until more than ``after`` runs have finished and the app shows it is idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """(after) => {
                const st = window.__streamlitRuns;
                return st && st.finished > after && st.idle === st.finished;
            }""",
            arg=after,
            timeout=timeout_ms,
        )
    except PlaywrightTimeout as err:
        state = page.evaluate(
            """() => [window.__streamlitRuns, document.querySelector('[data-testid="stApp"]')
                      ?.getAttribute('data-test-script-state')]"""
        )
        raise AssertionError(
            f"{page.url}: no Streamlit run finished within {timeout_ms / 1000:g} s after run "
            f"{after} (runs seen, script state: {state})"
        ) from err


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


def sign_in(page: Any, username: str, password: str, *, timeout_ms: float = 60_000) -> float:
    """Fill the sign-in page's form and submit it; seconds until the app is idle again.

    Every page requires sign-in; a benchmark or test makes the account first
    (``rehab users add`` or :func:`rehab_core.security.create_user`).
    """
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    button = page.get_by_role("button", name="Sign in", exact=True)
    return rerun(page, button.click, timeout_ms=timeout_ms)


def go_to_page(page: Any, title: str, *, timeout_ms: float = 60_000) -> float:
    """Click ``title`` in the sidebar navigation and wait for the page's run to finish."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    return rerun(page, link.click, timeout_ms=timeout_ms)


def remove_tree(path: Path) -> None:
    """Delete a folder if it exists (screenshots of a previous run)."""
    shutil.rmtree(path, ignore_errors=True)
