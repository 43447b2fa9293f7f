"""Three clinicians at once on one dashboard: sign in, open a patient, predict.

The light version of ``bench/bench_load.py`` (same machinery,
``streamlit_load.run_load``): one ``streamlit run app.py``, one headless
Chromium with three independent sessions that sign in together, each pick
their own demo patient and press Predict together. Everything must work with
nothing shown as an error, the server must log no traceback and load the
model once, and memory must stay bounded. The server log, the data folder
and a screenshot per session are kept under ``test-artifacts/browser_load/``.
"""

from __future__ import annotations

import re

import pytest
from streamlit_browser import ROOT, chromium_missing_reason, remove_tree
from streamlit_load import PHASES, format_report, run_load

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SESSIONS = 3
ARTIFACTS = ROOT / "test-artifacts" / "browser_load"
# Measured on the 2-core development machine (3 sessions, one patient each): the server's
# peak RSS (VmHWM) was 2967 MB (2772 MB once the runs were over: the Prediction page's
# caches hold the three patients' preprocessed recordings and explanations). The bound
# leaves twice that as headroom for other torch/BLAS builds and allocators; the 10-session
# benchmark measured 5669 MB.
SERVER_MEASURED_MB = 3000
SERVER_PEAK_BOUND_MB = 2 * SERVER_MEASURED_MB


@pytest.fixture(scope="module")
def report() -> dict:
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    remove_tree(ARTIFACTS)
    result = run_load(SESSIONS, ARTIFACTS, timeout_s=300, screenshots=True)
    print(format_report(result))  # shown with -s, and in the failure report
    return result


def test_every_session_signs_in_opens_its_patient_and_sees_its_prediction(report):
    assert report["errors"] == []
    assert report["n_errors"] == 0
    assert report["predictions_shown"] == SESSIONS
    for session in report["sessions"]:
        assert re.fullmatch(r"[01]\.\d\d", session["probability"]), session
        assert set(session["seconds"]) == set(PHASES), session
        # the probability appears during the run that the click started
        assert 0 < session["seconds"]["predict_to_probability"]
        assert session["seconds"]["predict_to_probability"] <= session["seconds"]["predict_to_idle"]
    assert {s["pseudonym"] for s in report["sessions"]} == {"DEMO-200", "DEMO-201", "DEMO-202"}
    # the database agrees: one stored and audited prediction and one sign-in per clinician
    assert report["stored"] == {
        "predictions_stored": SESSIONS,
        "audit_predict_events": SESSIONS,
        "audit_sign_in_events": SESSIONS,
    }


def test_the_server_logs_no_traceback_and_loads_the_model_once(report):
    log = report["server_log"]
    assert log["tracebacks"] == 0, log["traceback_excerpts"]
    assert len(log["model_loads"]) == 1, log["model_loads"]
    assert log["model_loads"][0].endswith("shufflenet_lstm")


def test_memory_is_bounded(report):
    memory = report["memory_mb"]
    assert memory["samples"] >= 2
    # the sampled tree can miss the peak between two samples; VmHWM cannot
    assert 0 < memory["server_tree_peak_rss_sampled"] <= memory["server_peak_rss"] * 1.05
    assert memory["server_peak_rss"] < SERVER_PEAK_BOUND_MB, format_report(report)
