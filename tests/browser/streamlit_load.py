"""Many clinicians at once against one ``streamlit run app.py``: the load test's machinery.

Shared by the light browser test (``tests/browser/test_browser_load.py``, 3
sessions) and the benchmark (``bench/bench_load.py``, 10 by default), which
puts this folder on ``sys.path``.

:func:`run_load` creates an administrator, ``n`` clinician accounts and their
demo patients (one each, or one shared) before the server starts, then starts
ONE server and ONE headless Chromium (Playwright's async API) with ``n``
browser contexts, each an independent Streamlit session, which at the same
time:

1. open the app (the sign-in page) and sign in through the real form, all
   pressing "Sign in" together (``n`` Argon2id checks at once);
2. open the Patients page and pick their patient;
3. open the Prediction page and press Predict, all together, and wait for
   the probability of a good outcome to be shown, then for the run to end
   (which also draws the Grad-CAM and the attribution).

Each step is timed on the browser's own clock (``performance.now()``; a run
is over when ``streamlit_browser``'s WebSocket watch says so, what the user
waits for is timed by a ``MutationObserver`` armed before the click). After
the clicks, every page is searched for Python exceptions (``stException``)
and error boxes, and the server's log for tracebacks.

Model loads are counted from the server's log: ``FusionPredictor.load`` logs
``loaded model bundle <path>`` at INFO on the ``rehab_core.prediction``
logger. The dashboard configures no logging of its own (and Streamlit's
``--logger.level`` applies only to Streamlit's loggers), so the server is
started with a ``sitecustomize.py`` on its ``PYTHONPATH`` that sends the
``rehab_core`` loggers' INFO lines to stderr, i.e. the server log.

Memory is read from ``/proc`` (Linux): every 0.5 s the resident set of the
server's process tree and of the browser's (the Playwright driver and
Chromium, the test's other child processes), and at the end the server
process's own peak (``VmHWM``, kept by the kernel, so no peak between two
samples is missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamlit_browser import (
    _RUN_WATCH,
    CHROMIUM,
    CHROMIUM_ARGS,
    PROBABILITY_SHOWN,
    SHOWN_WATCH,
    streamlit_server,
)

ADMIN = "load.admin"
PASSWORD = "load test password"
FIRST_SEED = 200  # demo patients DEMO-200, DEMO-201, ...
MODEL_LOADED = re.compile(r"loaded model bundle (\S+)")
PHASES = (
    "open_app",
    "sign_in",
    "patients_page",
    "open_patient",
    "prediction_page",
    "predict_to_probability",
    "predict_to_idle",
    "session_total",
)
"""Timed steps of a session, in order (seconds each; ``session_total`` from navigation)."""

_LOGGING_HOOK = '''"""Written by streamlit_load.py: the rehab_core loggers' INFO lines to stderr."""
import logging
import sys

_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
_logger = logging.getLogger("rehab_core")
_logger.setLevel(logging.INFO)
_logger.addHandler(_handler)
'''


@dataclass
class Account:
    """A clinician who signs in and predicts ``pseudonym``."""

    username: str
    password: str
    pseudonym: str


@dataclass
class SessionResult:
    """What one browser session saw: seconds per phase, errors, the probability shown."""

    username: str
    pseudonym: str
    seconds: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    probability: str | None = None


# --- accounts and patients ----------------------------------------------------------------------
def prepare_data(data_dir: Path, n_sessions: int, *, shared_patient: bool = False) -> list[Account]:
    """Create the administrator, ``n_sessions`` clinicians and their demo patients.

    Parameters
    ----------
    data_dir : Path
        The server's ``REHAB_DATA_DIR`` (SQLite database and files).
    n_sessions : int
        Number of clinician accounts (``clinician01``, ``clinician02``, ...).
    shared_patient : bool
        One demo patient for everybody instead of one each (``DEMO-200``,
        ``DEMO-201``, ...; each ``create_demo_patient`` takes about 8 s here).
    """
    from rehab_core.security import create_user
    from rehab_core.storage import open_store
    from rehab_core.workflows.patients import create_demo_patient

    store = open_store(data_dir=data_dir)
    try:
        # as `rehab users add --role admin` on the server does (no setup token needed there)
        create_user(store, ADMIN, PASSWORD, "admin", actor="cli:load")
        accounts = []
        for k in range(n_sessions):
            user = create_user(store, f"clinician{k + 1:02d}", PASSWORD, "clinician", actor=ADMIN)
            seed = FIRST_SEED if shared_patient else FIRST_SEED + k
            patient = create_demo_patient(store, ADMIN, seed=seed)
            accounts.append(Account(user.username, PASSWORD, patient.pseudonym))
        return accounts
    finally:
        store.close()


def stored_outcome(data_dir: Path) -> dict[str, int]:
    """Predictions stored and ``predict`` / ``sign_in`` events in the audit trail."""
    from rehab_core.security import audit_events
    from rehab_core.storage import open_store

    store = open_store(data_dir=data_dir)
    try:
        return {
            "predictions_stored": sum(len(store.predictions(p.id)) for p in store.list_patients()),
            "audit_predict_events": len(audit_events(store, action="predict")),
            "audit_sign_in_events": len(audit_events(store, action="sign_in")),
        }
    finally:
        store.close()


# --- memory from /proc --------------------------------------------------------------------------
def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible now."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # the command name (field 2) may hold spaces and parentheses: split after the last ')'
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(pid: int, parents: dict[int, int] | None = None) -> set[int]:
    """``pid`` and all its descendants alive now."""
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in tree:
            tree.add(p)
            todo.extend(children.get(p, []))
    return tree


def status_kib(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in KiB; 0 if gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 if gone."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class MemorySampler:
    """Samples, in a thread, the resident memory of the server's tree and of the browser's.

    The browser's tree is every other descendant of this process (the
    Playwright driver and the Chromium processes it starts). The 1-minute
    load average is sampled too.
    """

    def __init__(self, server_pid: int, interval_s: float = 0.5) -> None:
        self.server_pid = server_pid
        self.interval_s = interval_s
        self.server_peak_kib = 0
        self.browser_peak_kib = 0
        self.load_peak = 0.0
        self.n_samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def sample(self) -> None:
        parents = _parents()
        server = process_tree(self.server_pid, parents)
        others = process_tree(os.getpid(), parents) - server - {os.getpid()}
        self.server_peak_kib = max(
            self.server_peak_kib, sum(status_kib(p, "VmRSS") for p in server)
        )
        self.browser_peak_kib = max(
            self.browser_peak_kib, sum(status_kib(p, "VmRSS") for p in others)
        )
        self.load_peak = max(self.load_peak, os.getloadavg()[0])
        self.n_samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


# --- one browser session (Playwright async API) -------------------------------------------------
async def _wait_idle(page: Any, after: int, timeout_ms: float) -> None:
    """Wait until more than ``after`` runs have finished and the app is idle (see
    ``streamlit_browser.wait_idle``)."""
    await page.wait_for_function(
        """(after) => {
            const st = window.__streamlitRuns;
            return st && st.finished > after && st.idle === st.finished;
        }""",
        arg=after,
        timeout=timeout_ms,
    )


async def _rerun(page: Any, action: Callable[[], Awaitable[object]], timeout_ms: float) -> float:
    """Do ``action`` and wait for the run it starts to end; browser-clock seconds."""
    before = await page.evaluate("window.__streamlitRuns.finished")
    t0 = await page.evaluate("performance.now()")
    await action()
    await _wait_idle(page, before, timeout_ms)
    return (await page.evaluate("window.__streamlitRuns.tFinished") - t0) / 1000.0


async def _together(barrier: asyncio.Barrier, timeout_s: float) -> None:
    """Wait for every session to reach this point; go on alone if one failed or is late."""
    with contextlib.suppress(asyncio.BrokenBarrierError, TimeoutError):
        await asyncio.wait_for(barrier.wait(), timeout_s)


async def _page_errors(page: Any) -> list[str]:
    """Texts of the Python exceptions and error boxes the page shows now."""
    errors = []
    for test_id in ("stException", "stAlertContentError"):
        for box in await page.get_by_test_id(test_id).all():
            errors.append(f"{test_id}: {(await box.inner_text()).strip()[:500]}")
    return errors


async def _session(
    browser: Any,
    url: str,
    account: Account,
    barriers: tuple[asyncio.Barrier, asyncio.Barrier],
    timeout_ms: float,
    screenshot: Path | None,
) -> SessionResult:
    result = SessionResult(account.username, account.pseudonym)
    seconds = result.seconds
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(timeout_ms)
    await context.add_init_script(_RUN_WATCH)
    page = await context.new_page()
    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
        await _wait_idle(page, 0, timeout_ms)
        seconds["open_app"] = await page.evaluate("window.__streamlitRuns.tFinished") / 1000.0

        await page.get_by_label("User name").fill(account.username)
        await page.get_by_label("Password", exact=True).fill(account.password)
        button = page.get_by_role("button", name="Sign in", exact=True)
        await _together(barriers[0], timeout_ms / 1000)
        seconds["sign_in"] = await _rerun(page, button.click, timeout_ms)
        greeting = f"Signed in as {account.username} (clinician)"
        sidebar = page.get_by_test_id("stSidebar")
        if greeting not in await sidebar.inner_text():
            raise RuntimeError(f"{account.username} is not signed in after the form")

        nav = page.get_by_test_id("stSidebarNav")
        link = nav.get_by_role("link", name="Patients", exact=True)
        seconds["patients_page"] = await _rerun(page, link.click, timeout_ms)
        await page.get_by_role("combobox", name="Patient").click()
        name = re.compile(f"^{re.escape(account.pseudonym)}")
        option = page.get_by_role("option", name=name)
        seconds["open_patient"] = await _rerun(page, option.click, timeout_ms)
        picked = await page.get_by_role("combobox", name="Patient").input_value()
        if not name.match(picked):
            raise RuntimeError(
                f"{account.username} picked {account.pseudonym}, the page shows {picked!r}"
            )

        link = nav.get_by_role("link", name="Prediction", exact=True)
        seconds["prediction_page"] = await _rerun(page, link.click, timeout_ms)
        button = page.get_by_role("button", name="Predict", exact=True)
        await button.wait_for()
        await _together(barriers[1], timeout_ms / 1000)
        await page.evaluate(SHOWN_WATCH, [PROBABILITY_SHOWN, None])
        t0 = await page.evaluate("performance.now()")
        seconds["predict_to_idle"] = await _rerun(page, button.click, timeout_ms)
        await page.wait_for_function("window.__shownAt !== null", timeout=timeout_ms)
        shown = await page.evaluate("window.__shownObserver.disconnect(), window.__shownAt")
        seconds["predict_to_probability"] = (shown - t0) / 1000.0
        value = (
            page.get_by_test_id("stMetric")
            .filter(has_text="Probability of a good outcome")
            .get_by_test_id("stMetricValue")
        )
        result.probability = (await value.inner_text()).strip()
        seconds["session_total"] = await page.evaluate("performance.now()") / 1000.0
    except Exception as err:  # a failed session is a finding, reported with the others
        result.errors.append(f"{type(err).__name__}: {str(err).splitlines()[0][:500]}")
        for barrier in barriers:  # nobody waits for this session any more
            await barrier.abort()
    finally:
        with contextlib.suppress(Exception):
            result.errors.extend(await _page_errors(page))
            if screenshot is not None:
                await page.screenshot(path=str(screenshot), full_page=True)
        await context.close()
    return result


async def _drive(
    url: str, accounts: list[Account], timeout_ms: float, screenshots: Path | None
) -> tuple[list[SessionResult], str]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            barriers = (asyncio.Barrier(len(accounts)), asyncio.Barrier(len(accounts)))
            results = await asyncio.gather(
                *(
                    _session(
                        browser,
                        url,
                        account,
                        barriers,
                        timeout_ms,
                        None if screenshots is None else screenshots / f"{account.username}.png",
                    )
                    for account in accounts
                )
            )
            return list(results), f"Chromium {browser.version}"
        finally:
            await browser.close()


# --- the whole run ------------------------------------------------------------------------------
def summarise(values: list[float]) -> dict[str, float | int]:
    """Median, 90th percentile (linear interpolation), max and count of some seconds."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    rank = 0.9 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    p90 = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return {
        "median_s": round(statistics.median(ordered), 3),
        "p90_s": round(p90, 3),
        "max_s": round(ordered[-1], 3),
        "n": len(ordered),
    }


def scan_log(text: str) -> dict[str, Any]:
    """Model loads and tracebacks in a server log."""
    lines = text.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
    return {
        "model_loads": MODEL_LOADED.findall(text),
        "tracebacks": len(tracebacks),
        # each traceback with the lines that follow it (its frames and the exception)
        "traceback_excerpts": ["\n".join(lines[i : i + 30]) for i in tracebacks[:3]],
    }


def run_load(
    n_sessions: int,
    work_dir: Path,
    *,
    shared_patient: bool = False,
    timeout_s: float = 600.0,
    port: int | None = None,
    screenshots: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Run ``n_sessions`` concurrent sessions against one server; the figures as a dict.

    Parameters
    ----------
    n_sessions : int
        Concurrent browser sessions (clinicians).
    work_dir : Path
        Holds ``data/`` (the server's data folder), ``streamlit.log``, the
        logging hook and, with ``screenshots``, one full-page screenshot per
        session taken at its end.
    shared_patient : bool
        Everybody predicts the same demo patient (preprocessing cached after
        the first) instead of one patient each.
    timeout_s : float
        Bound on every wait of a session (sign-in, each run, the probability).
    port : int | None
        The server's port; None picks a free one.
    progress : callable
        Called with a sentence at each stage.

    Returns
    -------
    dict
        ``sessions`` (per session: seconds per phase, errors, probability),
        ``phases`` (median / p90 / max per phase), ``n_errors``,
        ``server_log`` (model loads, tracebacks), ``memory_mb``, ``load_average``,
        ``stored`` (predictions and audit events in the database) and the set-up.
    """
    import streamlit

    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = work_dir / "data"
    log_path = work_dir / "streamlit.log"
    hook = work_dir / "logging_hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(_LOGGING_HOOK)
    shots = work_dir / "screenshots" if screenshots else None
    if shots is not None:
        shots.mkdir(exist_ok=True)

    progress(f"creating {n_sessions} accounts and their demo patients (not timed)")
    t_prep = time.perf_counter()
    accounts = prepare_data(data_dir, n_sessions, shared_patient=shared_patient)
    prep_s = time.perf_counter() - t_prep

    python_path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    with streamlit_server(data_dir, log_path, port=port, env={"PYTHONPATH": python_path}) as server:
        progress(f"server up at {server.url}; {n_sessions} sessions start together")
        load_start = os.getloadavg()
        cpu_start = cpu_seconds(server.pid)
        t0 = time.perf_counter()
        with MemorySampler(server.pid) as memory:
            results, browser = asyncio.run(_drive(server.url, accounts, timeout_s * 1000, shots))
            # the server's own peak, kept by the kernel (read before the server stops)
            server_hwm_kib = status_kib(server.pid, "VmHWM")
            server_end_kib = status_kib(server.pid, "VmRSS")
        wall_s = time.perf_counter() - t0
        server_cpu_s = cpu_seconds(server.pid) - cpu_start
        load_end = os.getloadavg()
    progress("sessions done; reading the log and the database")

    log = scan_log(log_path.read_text(errors="replace"))
    errors = [f"{r.username}: {e}" for r in results for e in r.errors]
    return {
        "n_sessions": n_sessions,
        "shared_patient": shared_patient,
        "streamlit": streamlit.__version__,
        "browser": browser,
        "cpu_count": os.cpu_count(),
        "setup_s": round(prep_s, 1),
        "wall_s": round(wall_s, 1),
        # what the sessions cost the server, whatever else the machine ran meanwhile
        "server_cpu_s": round(server_cpu_s, 1),
        "phases": {
            name: summarise([r.seconds[name] for r in results if name in r.seconds])
            for name in PHASES
        },
        "predictions_shown": sum(r.probability is not None for r in results),
        "n_errors": len(errors),
        "errors": errors,
        "server_log": log,
        "memory_mb": {
            "server_peak_rss": round(server_hwm_kib / 1024, 1),
            "server_rss_at_end": round(server_end_kib / 1024, 1),
            "server_tree_peak_rss_sampled": round(memory.server_peak_kib / 1024, 1),
            "browser_tree_peak_rss_sampled": round(memory.browser_peak_kib / 1024, 1),
            "samples": memory.n_samples,
        },
        "load_average": {
            "start": [round(v, 2) for v in load_start],
            "end": [round(v, 2) for v in load_end],
            "peak_1min_sampled": round(memory.load_peak, 2),
        },
        "stored": stored_outcome(data_dir),
        "sessions": [asdict(r) for r in results],
        "work_dir": str(work_dir),
    }


def format_report(report: dict[str, Any]) -> str:
    """The figures of :func:`run_load` as a plain-text table."""
    out = [
        f"{report['n_sessions']} concurrent sessions "
        f"({'one shared patient' if report['shared_patient'] else 'one patient each'}), "
        f"streamlit {report['streamlit']}, {report['browser']}, {report['cpu_count']} cores; "
        f"sessions took {report['wall_s']:.1f} s (set-up {report['setup_s']:.1f} s, not timed)",
        f"  {'phase (seconds)':<26}{'median':>9}{'p90':>9}{'max':>9}{'n':>5}",
    ]
    for name, s in report["phases"].items():
        if s["n"]:
            out.append(
                f"  {name:<26}{s['median_s']:>9.2f}{s['p90_s']:>9.2f}{s['max_s']:>9.2f}{s['n']:>5}"
            )
        else:
            out.append(f"  {name:<26}{'-':>9}{'-':>9}{'-':>9}{0:>5}")
    log, mem, load = report["server_log"], report["memory_mb"], report["load_average"]
    stored = report["stored"]
    out += [
        f"  predictions shown {report['predictions_shown']}/{report['n_sessions']}, "
        f"stored {stored['predictions_stored']}, audited {stored['audit_predict_events']}",
        f"  errors on the pages or in the sessions: {report['n_errors']}",
        *(f"    {e}" for e in report["errors"]),
        f"  server log: {len(log['model_loads'])} model load(s) "
        f"{sorted(set(log['model_loads']))}, {log['tracebacks']} traceback(s)",
        f"  server CPU {report['server_cpu_s']:.0f} s in {report['wall_s']:.0f} s "
        f"({report['server_cpu_s'] / max(report['wall_s'], 1e-9):.0%} of one core on average)",
        f"  memory: server peak RSS {mem['server_peak_rss']:.0f} MB (VmHWM), "
        f"{mem['server_rss_at_end']:.0f} MB at the end; sampled peaks: server tree "
        f"{mem['server_tree_peak_rss_sampled']:.0f} MB, browser tree "
        f"{mem['browser_tree_peak_rss_sampled']:.0f} MB ({mem['samples']} samples)",
        f"  load average (1, 5, 15 min): start {load['start']}, end {load['end']}, "
        f"1-min peak {load['peak_1min_sampled']}",
    ]
    return "\n".join(out)
