"""Load test: N clinicians at once sign in, open a patient and predict on one dashboard.

One ``streamlit run app.py`` (headless, 127.0.0.1, a temporary data folder,
the shipped weights) and one headless Debian Chromium with N browser
contexts, each an independent Streamlit session, driven at the same time by
Playwright's async API. Before the server starts (not timed): an
administrator, N clinician accounts (``clinician01``...) and a demo patient
each (``DEMO-200``..., or one shared with ``--shared-patient``). Then every
session opens the app, signs in through the real form (all press "Sign in"
together), picks its patient on the Patients page, opens the Prediction page
and presses Predict (all together), and waits for the probability of a good
outcome to be shown and for the run to end.

Reported: per phase the median, 90th percentile and maximum over the
sessions (browser-clock seconds); every error a page showed (``stException``,
error boxes) or a session hit (a timeout); tracebacks in the server log; how
many times a model was loaded (``loaded model bundle`` lines of
``FusionPredictor.load``, see ``tests/browser/streamlit_load.py``); peak
memory of the server (its ``VmHWM``, and its process tree and the browser's
sampled every 0.5 s); predictions and audit events stored; the load average.
The machinery is ``tests/browser/streamlit_load.py``, shared with the light
browser test ``tests/browser/test_browser_load.py`` (3 sessions).

Run (after `make setup`, with Debian's chromium installed):
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_load.py [--sessions 10] [--json]
        [--port 8600] [--shared-patient] [--timeout-s 900] [--keep-artifacts]

Exit status 1 when a session failed, a page showed an error, the server
logged a traceback or a model was loaded more than once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from streamlit_browser import chromium_missing_reason  # noqa: E402
from streamlit_load import format_report, run_load  # noqa: E402


def _log(message: str) -> None:
    print(f"bench_load: {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent sessions (10)")
    parser.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    parser.add_argument(
        "--shared-patient",
        action="store_true",
        help="every session predicts the same demo patient (default: one patient each)",
    )
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=900.0,
        help="bound on each wait of a session, e.g. for the prediction (900 s)",
    )
    parser.add_argument(
        "--keep-artifacts",
        action="store_true",
        help="keep the data folder, server log and one screenshot per session; print where",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    reason = chromium_missing_reason()
    if reason:
        sys.exit(f"bench_load: {reason}.")

    work_dir = Path(tempfile.mkdtemp(prefix="bench_load_"))
    try:
        report = run_load(
            args.sessions,
            work_dir,
            shared_patient=args.shared_patient,
            timeout_s=args.timeout_s,
            port=args.port,
            screenshots=args.keep_artifacts,
            progress=_log,
        )
    finally:
        if args.keep_artifacts:
            _log(f"kept the server log, data folder and screenshots in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    failed = (
        report["n_errors"]
        or report["server_log"]["tracebacks"]
        or report["predictions_shown"] != args.sessions
        or len(report["server_log"]["model_loads"]) != len(set(report["server_log"]["model_loads"]))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
