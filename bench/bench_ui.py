"""Time the dashboard in a real browser: first load, interactions, a prediction.

One ``streamlit run app.py`` (private temporary data folder) and headless
Debian Chromium through Playwright, as in the browser test
(``tests/browser/streamlit_browser.py``). Every time is read off the
browser's own clock (``performance.now()``); a Streamlit run is over when the
server's "script finished" message has arrived and the app's root element
says ``data-test-script-state="notRunning"`` (the state behind the
"Running..." status widget, which is checked to be hidden then). What the
user waits for (a chart's new title, the probability) is timed by a
``MutationObserver`` armed before the action. The CPU the server spent on
each action is read from ``/proc`` too: on a busy machine it tells the
server's share of a wall time from the browser's and from waiting for a core.

Every page requires sign-in: an administrator and a clinician account are
created before the server starts, and every session signs in as the
clinician through the real form (``streamlit_browser.sign_in``).

(a) first load: a new browser session opens the app (the sign-in page), from
    navigation start to the end of the first script run; the first of them
    is the server's first session (cold). Then signing in, from the click on
    "Sign in" to the end of the run (an Argon2id password check).
(b) interactions, in one session on the demo patient: one step of the
    Signals page's start slider (keyboard), to the end of the run and to the
    traces chart showing the new range; switching page to Overview and back
    to Signals (its data cached), to the end of the run. Target <= 0.5 s.
(c) prediction with the default model, from the click on Predict to the
    probability being shown (and to the end of the run, which also draws the
    Grad-CAM). Each repeat is a new session (so no earlier result is on
    screen) on a new synthetic patient (``create_demo_patient(seed)``):
    the first includes loading the model; the others have it loaded but
    preprocess new recordings, which is what a clinician's first prediction
    of a patient costs. The same patient predicted again (recordings already
    preprocessed) is timed too. Target <= 3 s.

Run (after `make setup` and `make browser`):
    .venv/bin/python bench/bench_ui.py [--repeats 5] [--json]
        [--streamlit-option runner.postScriptGC=false]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from streamlit_browser import (  # noqa: E402
    PROBABILITY_SHOWN,
    SHOWN_WATCH,
    chromium_browser,
    chromium_missing_reason,
    go_to_page,
    new_page,
    rerun,
    sign_in,
    streamlit_server,
    wait_idle,
)

TIMEOUT_MS = 300_000
FIRST_SEED = 100  # demo patients DEMO-100, DEMO-101, ... (DEMO-42 is the page's own)
# every page requires sign-in: the accounts exist before the server starts
ADMIN = "bench.admin"
CLINICIAN = "bench.clinician"
PASSWORD = "bench ui password"
# SHOWN_WATCH predicate: a plotly chart's title contains ``arg``
TITLE_SHOWN = """
    const titles = document.querySelectorAll('[data-testid="stPlotlyChart"] .gtitle');
    return [...titles].some((t) => t.textContent.includes(arg));
"""


def _arm(page: Any, predicate: str, arg: Any = None) -> None:
    page.evaluate(SHOWN_WATCH, [predicate, arg])


def _shown_at(page: Any) -> float:
    """performance.now() (ms) at which the armed predicate first held; waits for it."""
    page.wait_for_function("window.__shownAt !== null", timeout=TIMEOUT_MS)
    return float(page.evaluate("window.__shownObserver.disconnect(), window.__shownAt"))


def _log(message: str) -> None:
    print(f"bench_ui: {message}", file=sys.stderr, flush=True)


def _now(page: Any) -> float:
    return float(page.evaluate("performance.now()"))


def _idle_and_hidden(page: Any) -> bool:
    """The status widget ("Running...") is not shown once the app is idle."""
    return not page.get_by_test_id("stStatusWidget").is_visible()


def _open(browser: Any, url: str, *, sign_in_too: bool = True) -> tuple[Any, float]:
    """A new session on the app (signed in as the clinician unless ``sign_in_too`` is false);
    seconds from navigation start to the first run's end (the sign-in page)."""
    page = new_page(browser)
    page.goto(url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    wait_idle(page, after=0, timeout_ms=TIMEOUT_MS)
    first_run = page.evaluate("window.__streamlitRuns.tFinished") / 1000.0
    if sign_in_too:
        sign_in(page, CLINICIAN, PASSWORD, timeout_ms=TIMEOUT_MS)
        _signed_in(page)
    return page, first_run


def _signed_in(page: Any) -> None:
    """The sidebar greets the clinician (else the sign-in was refused: say what the page says)."""
    sidebar = page.get_by_test_id("stSidebar")
    if not sidebar.count() or f"Signed in as {CLINICIAN}" not in sidebar.inner_text():
        body = page.inner_text("body")
        raise RuntimeError(f"sign-in as {CLINICIAN} failed; the page says: {body}")


def _pick_patient(page: Any, pseudonym: str) -> None:
    go_to_page(page, "Patients", timeout_ms=TIMEOUT_MS)
    page.get_by_role("combobox", name="Patient").click()
    option = page.get_by_role("option", name=re.compile(f"^{re.escape(pseudonym)}"))
    rerun(page, option.click, timeout_ms=TIMEOUT_MS)


class ServerCpu:
    """CPU seconds (user + system, all threads) the server used per timed action.

    On a busy machine wall times include waiting for a core; the CPU the
    server spent is what the action costs it, close to its wall time on an
    idle machine for this mostly single-threaded work (Linux ``/proc`` only).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: dict[str, list[float]] = defaultdict(list)

    def now(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        start = self.now()
        yield
        self.samples[name].append(self.now() - start)

    def report(self) -> dict[str, Any]:
        return {name: _summary(values) for name, values in self.samples.items()}


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(values), 3),
        "max_s": round(max(values), 3),
        "n": len(values),
        "all_s": [round(v, 3) for v in values],
    }


def bench_first_load(browser: Any, url: str, repeats: int, cpu: ServerCpu) -> dict[str, Any]:
    times, sign_ins = [], []
    for k in range(repeats + 1):
        _log(f"first load {k + 1}/{repeats + 1}")
        page, seconds = _open(browser, url, sign_in_too=False)
        assert _idle_and_hidden(page)
        times.append(seconds)
        with cpu.measure("sign_in"):
            sign_ins.append(sign_in(page, CLINICIAN, PASSWORD, timeout_ms=TIMEOUT_MS))
        _signed_in(page)
        page.context.close()
    return {
        "cold_first_session_s": round(times[0], 3),
        "warm": _summary(times[1:]),
        "sign_in": _summary(sign_ins),
    }


def bench_interactions(browser: Any, url: str, repeats: int, cpu: ServerCpu) -> dict[str, Any]:
    _log("interactions: picking the patient")
    page, _ = _open(browser, url)
    _pick_patient(page, f"DEMO-{FIRST_SEED}")
    _log("interactions: first Signals visit")
    _arm(page, TITLE_SHOWN, "EEG-EMG, 0-10 s")
    t0 = _now(page)
    go_to_page(page, "Signals", timeout_ms=TIMEOUT_MS)
    first_signals = (_shown_at(page) - t0) / 1000
    slider = page.get_by_test_id("stSlider").filter(has_text="Start (s)").get_by_role("slider")
    slider_idle, slider_chart, to_overview, to_signals = [], [], [], []
    for step in range(1, repeats + 1):
        _log(f"interactions: slider step {step}/{repeats}")
        _arm(page, TITLE_SHOWN, f"EEG-EMG, {step}-{step + 10} s")
        t0 = _now(page)
        with cpu.measure("slider_step"):
            slider_idle.append(
                rerun(page, lambda: slider.press("ArrowRight"), timeout_ms=TIMEOUT_MS)
            )
        slider_chart.append((_shown_at(page) - t0) / 1000)
        assert _idle_and_hidden(page)
    for k in range(repeats):
        _log(f"interactions: page switches {k + 1}/{repeats}")
        with cpu.measure("switch_to_overview"):
            to_overview.append(go_to_page(page, "Overview", timeout_ms=TIMEOUT_MS))
        with cpu.measure("switch_to_signals_cached"):
            to_signals.append(go_to_page(page, "Signals", timeout_ms=TIMEOUT_MS))
        assert _idle_and_hidden(page)
    page.context.close()
    return {
        "first_signals_visit_s": round(first_signals, 3),
        "slider_step_to_idle": _summary(slider_idle),
        "slider_step_to_chart": _summary(slider_chart),
        "switch_to_overview": _summary(to_overview),
        "switch_to_signals_cached": _summary(to_signals),
    }


def _predict_once(
    browser: Any, url: str, pseudonym: str, cpu: ServerCpu, name: str
) -> tuple[float, float]:
    """Seconds from the click on Predict to the probability shown, and to the run's end."""
    _log(f"prediction of {pseudonym}")
    page, _ = _open(browser, url)
    _pick_patient(page, pseudonym)
    go_to_page(page, "Prediction", timeout_ms=TIMEOUT_MS)
    button = page.get_by_role("button", name="Predict", exact=True)
    button.wait_for()
    shown_before = page.evaluate("(body) => new Function('arg', body)(null)", PROBABILITY_SHOWN)
    assert not shown_before, "a new session shows no probability before Predict"
    _arm(page, PROBABILITY_SHOWN)
    t0 = _now(page)
    with cpu.measure(name):
        idle = rerun(page, button.click, timeout_ms=TIMEOUT_MS)
    shown = (_shown_at(page) - t0) / 1000
    assert _idle_and_hidden(page)
    page.context.close()
    return shown, idle


def bench_prediction(browser: Any, url: str, repeats: int, cpu: ServerCpu) -> dict[str, Any]:
    new_shown, new_idle = [], []
    for k in range(repeats + 1):
        name = "prediction_cold" if k == 0 else "prediction_new_patient"
        shown, idle = _predict_once(browser, url, f"DEMO-{FIRST_SEED + k}", cpu, name)
        new_shown.append(shown)
        new_idle.append(idle)
    again_shown, again_idle = [], []
    for _ in range(repeats):
        shown, idle = _predict_once(browser, url, f"DEMO-{FIRST_SEED}", cpu, "prediction_again")
        again_shown.append(shown)
        again_idle.append(idle)
    return {
        "cold_first_prediction": {
            "to_probability_s": round(new_shown[0], 3),
            "to_idle_s": round(new_idle[0], 3),
        },
        "new_patient_to_probability": _summary(new_shown[1:]),
        "new_patient_to_idle": _summary(new_idle[1:]),
        "same_patient_again_to_probability": _summary(again_shown),
        "same_patient_again_to_idle": _summary(again_idle),
    }


def _print(report: dict[str, Any]) -> None:
    def line(name: str, s: dict[str, Any], target: float | None = None) -> None:
        flag = "" if target is None else ("  ok" if s["median_s"] <= target else "  OVER TARGET")
        print(
            f"  {name:<44} median {s['median_s']:6.3f} s  max {s['max_s']:6.3f} s"
            f"  (n={s['n']}){flag}"
        )

    load, act, pred = report["first_load"], report["interactions"], report["prediction"]
    print(
        f"streamlit {report['streamlit']}, {report['browser']}, {report['repeats']} repeats, "
        f"options: {' '.join(report['streamlit_options']) or 'none'}"
    )
    print("(a) first page load (navigation start -> first run over)")
    print(f"  {'first session after the server started':<44} {load['cold_first_session_s']:6.3f} s")
    line("new session", load["warm"])
    line("sign in (Argon2id check) -> run over", load["sign_in"])
    print("(b) interactions (target <= 0.5 s)")
    print(f"  {'first Signals visit (preprocessing)':<44} {act['first_signals_visit_s']:6.3f} s")
    line("start slider step -> run over", act["slider_step_to_idle"], 0.5)
    line("start slider step -> chart shows new range", act["slider_step_to_chart"], 0.5)
    line("switch page to Overview -> run over", act["switch_to_overview"], 0.5)
    line("switch page to Signals (cached) -> run over", act["switch_to_signals_cached"], 0.5)
    print("(c) prediction, click -> probability shown (target <= 3 s)")
    cold = pred["cold_first_prediction"]
    print(
        f"  {'first (loads the model)':<44} {cold['to_probability_s']:6.3f} s"
        f"  (run over {cold['to_idle_s']:.3f} s)"
    )
    line("new patient, model loaded", pred["new_patient_to_probability"], 3.0)
    line("  ... to run over (with Grad-CAM)", pred["new_patient_to_idle"])
    line("same patient again", pred["same_patient_again_to_probability"], 3.0)
    line("  ... to run over", pred["same_patient_again_to_idle"])
    print("server CPU per action (user + system; about its wall time on an idle machine)")
    for name, summary in report["server_cpu"].items():
        line(name, summary)
    start, end = report["load_average_1min"]
    print(f"load average (1 min) at start {start:.2f}, at end {end:.2f}, on {os.cpu_count()} cores")


def _option(text: str) -> list[str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        sys.exit(f"bench_ui: --streamlit-option {text!r} is not NAME=VALUE.")
    return [f"--{name}", value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--streamlit-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a config option for the server, e.g. runner.postScriptGC=false (repeatable)",
    )
    args = parser.parse_args()
    reason = chromium_missing_reason()
    if reason:
        sys.exit(f"bench_ui: {reason}.")

    import streamlit

    from rehab_core.security import create_user
    from rehab_core.storage import open_store
    from rehab_core.workflows.patients import create_demo_patient

    with tempfile.TemporaryDirectory(prefix="bench_ui_") as tmp:
        data_dir = Path(tmp) / "data"
        store = open_store(data_dir=data_dir)
        try:  # accounts and patients exist before the server starts; their creation is not timed
            create_user(store, ADMIN, PASSWORD, "admin", actor="cli:bench")  # as `rehab users add`
            create_user(store, CLINICIAN, PASSWORD, "clinician", actor=ADMIN)
            _log(f"creating {args.repeats + 1} demo patients")
            for k in range(args.repeats + 1):
                create_demo_patient(store, ADMIN, seed=FIRST_SEED + k)
        finally:
            store.close()
        options = [part for o in args.streamlit_option for part in _option(o)]
        with (
            streamlit_server(data_dir, Path(tmp) / "streamlit.log", options=options) as server,
            chromium_browser() as browser,
        ):
            cpu = ServerCpu(server.pid)
            load_start = os.getloadavg()[0]
            report = {
                "streamlit": streamlit.__version__,
                "browser": f"Chromium {browser.version}",
                "repeats": args.repeats,
                "streamlit_options": args.streamlit_option,
                "first_load": bench_first_load(browser, server.url, args.repeats, cpu),
                # before any page has loaded the model, so that the first prediction loads it
                "prediction": bench_prediction(browser, server.url, args.repeats, cpu),
                "interactions": bench_interactions(browser, server.url, args.repeats, cpu),
                "server_cpu": cpu.report(),
                "load_average_1min": [load_start, os.getloadavg()[0]],
            }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)


if __name__ == "__main__":
    main()
