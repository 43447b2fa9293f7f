"""A hostile upload is refused in one sentence while the server keeps serving others (issue 14).

One ``streamlit run app.py`` with a private data folder and two browser
contexts of Debian's Chromium, each its own signed-in user and Streamlit
session. User A creates a patient and uploads a hostile file from
``tests/_hostile.py`` (the self-referencing FIF into the EEG-EMG slot, the
``.nii.gz`` bomb into the fMRI slot). From the moment A's file is handed to
the file chooser, a thread asks the server's ``/_stcore/health`` every 50 ms
and user B reloads the Overview page; both must be answered within a few
seconds. A must see the one-sentence refusal within 30 s, and the server's
process group (the server and its sandboxed readers) must grow by less than
500 MB. Screenshots and the server log go to ``test-artifacts/browser_hostile/``.

The store-level refusals are in ``tests/storage/test_store_hostile_uploads.py``;
time and memory of every hostile file in ``bench/bench_hostile_uploads.py``.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import _hostile
import pytest
from playwright.sync_api import Page, expect
from streamlit_browser import (
    ROOT,
    chromium_browser,
    chromium_missing_reason,
    go_to_page,
    new_page,
    open_app,
    remove_tree,
    sign_in,
    streamlit_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "browser_hostile"
PASSWORD = "hostile upload password"
UI_MS = 60_000
REFUSED_WITHIN_S = 30.0  # issue 14: each hostile file ends in under 30 s
EXTRA_MEMORY_MB = 500.0  # ... with under 500 MB of extra memory
# B's Overview reload and every health answer while A's upload is checked. Measured on the
# 2-core shared machine over four runs (the figures the test prints with -s): reload
# 0.69-2.29 s, slowest health answer 0.02-0.21 s, refusal shown 1.1-3.4 s after the file was
# chosen, group memory +4 to +119 MB (the FIF's sandboxed reader; the NIfTI header is
# refused before much is read). An upload read in the server's own thread with no
# limit held the server for the whole read (26,536 FIF parts opened in 30 s).
OTHER_USER_WITHIN_S = 10.0
HEALTH_WITHIN_S = 5.0

CASES = {
    "self_referencing_fif": (
        "EEG-EMG recording",
        "rec_raw.fif",
        r"^rec_raw\.fif is one part of a split FIF recording \(it names a next file to read\); "
        r"save the recording as one file and upload that\.$",
    ),
    "nifti_gz_bomb": (
        "Resting-state fMRI",
        "bomb.nii.gz",
        r"^bomb\.nii\.gz declares an image of shape \(64, 64, 48, \d+\) .*, more than the "
        r"256 MiB an fMRI series may hold; expected a resting-state series of ordinary size\.$",
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard on a free port (url, pid) with two clinicians in its private store."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    remove_tree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    data_dir = tmp_path_factory.mktemp("rehab_data_hostile")
    from rehab_core.security import create_user
    from rehab_core.storage import open_store

    store = open_store(data_dir=data_dir)
    try:
        create_user(store, "admin.hostile", PASSWORD, "admin", actor="pytest")
        for name in ("dr.a", "dr.b"):
            create_user(store, name, PASSWORD, "clinician", actor="pytest")
    finally:
        store.close()
    with streamlit_server(data_dir, ARTIFACTS / "streamlit.log") as app:
        yield app


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile_upload")
    fif = _hostile.self_referencing_fif(folder / "fif")
    return {
        "self_referencing_fif": fif.rename(folder / "rec_raw.fif"),
        "nifti_gz_bomb": _hostile.nifti_gz_bomb(folder / "bomb.nii.gz"),
    }


def _status_kb(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # ended meanwhile
        return 0
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _group_pids(pgid: int) -> list[int]:
    """The server and every process it started (its own session and process group)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # state, ppid, pgrp
            pids.append(int(entry.name))
    return pids


def _group_mb(pgid: int, *, peak_of_children: bool) -> float:
    """Resident memory of the server's group: the server's VmRSS plus each other process's
    VmRSS, or its peak VmHWM (a sandboxed reader lives too briefly to be sampled at its peak)."""
    total_kb = 0
    for pid in _group_pids(pgid):
        field = "VmHWM" if peak_of_children and pid != pgid else "VmRSS"
        total_kb += _status_kb(pid, field)
    return total_kb / 1024


class _Watch(threading.Thread):
    """Samples the server group's memory and asks /_stcore/health every 50 ms until stopped."""

    def __init__(self, url: str, pgid: int) -> None:
        super().__init__(daemon=True)
        self.url, self.pgid = url, pgid
        self.stop = threading.Event()
        self.health: list[tuple[float, float, int]] = []  # (start epoch s, seconds, status)
        self.peak_mb = 0.0

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_mb = max(self.peak_mb, _group_mb(self.pgid, peak_of_children=True))
            t0, status = time.time(), 0
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=30) as answer:
                    status = answer.status
            except OSError:
                status = -1
            self.health.append((t0, time.time() - t0, status))
            self.stop.wait(0.05)


# in A's page: epoch ms at which the spinner and the refusal were first shown
_A_WATCH = """(pattern) => {
    const re = new RegExp(pattern);
    window.__hostile = { spinner: null, refused: null };
    const check = () => {
        const st = window.__hostile, now = Date.now();
        if (st.spinner === null && document.querySelector('[data-testid="stSpinner"]'))
            st.spinner = now;
        const errors = [...document.querySelectorAll('[data-testid="stAlertContentError"]')];
        if (st.refused === null && errors.some((e) => re.test(e.textContent.trim())))
            st.refused = now;
    };
    new MutationObserver(check).observe(
        document.body, { subtree: true, childList: true, characterData: true });
}"""


def _shot(page: Page, name: str) -> None:
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_upload_is_refused_while_another_user_is_served(server, hostile_files, case):
    slot, name, sentence = CASES[case]
    pseudonym = f"HOSTILE-{list(CASES).index(case) + 1}"
    with chromium_browser() as browser:
        page_a, page_b = new_page(browser), new_page(browser)  # two contexts: two sessions
        for page, user in ((page_a, "dr.a"), (page_b, "dr.b")):
            page.set_default_timeout(UI_MS)
            open_app(page, server.url, timeout_ms=UI_MS)
            sign_in(page, user, PASSWORD, timeout_ms=UI_MS)
            expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {user}")
        overview = page_b.get_by_role("heading", name="Lower-limb recovery after ischaemic stroke")
        expect(overview).to_be_visible(timeout=UI_MS)

        go_to_page(page_a, "Patients", timeout_ms=UI_MS)
        expander = page_a.get_by_test_id("stExpander").filter(has_text="Create a patient")
        if not page_a.get_by_role("textbox", name="Pseudonym").is_visible():
            expander.get_by_text("Create a patient").click()
        page_a.get_by_role("textbox", name="Pseudonym").fill(pseudonym)
        page_a.get_by_role("button", name="Create patient").click()
        expect(page_a.get_by_text(f"Created patient {pseudonym}")).to_be_visible(timeout=UI_MS)

        before_mb = _group_mb(server.pid, peak_of_children=False)
        hwm_before_mb = _status_kb(server.pid, "VmHWM") / 1024
        watch = _Watch(server.url, server.pid)
        watch.start()
        page_a.evaluate(_A_WATCH, sentence)
        try:
            t0 = time.time()
            uploader = page_a.get_by_test_id("stFileUploader").filter(has_text=slot)
            uploader.locator("input[type=file]").set_input_files(hostile_files[case])
            # meanwhile user B reloads the Overview and must see it
            b_start = time.time()
            page_b.reload(wait_until="domcontentloaded")
            expect(overview).to_be_visible(timeout=UI_MS)
            b_seconds = time.time() - b_start
            refusal = page_a.get_by_test_id("stAlertContentError").filter(
                has_text=re.compile(sentence)
            )
            expect(refusal).to_be_visible(timeout=REFUSED_WITHIN_S * 1000)
            refused_seconds = time.time() - t0
            timeline = page_a.evaluate("window.__hostile")
        finally:
            watch.stop.set()
            watch.join(timeout=60)
        after_hwm_mb = _status_kb(server.pid, "VmHWM") / 1024
        _shot(page_a, f"{case}-a-refused")
        _shot(page_b, f"{case}-b-served")

        refused_at = timeline["refused"] / 1000
        during = [h for h in watch.health if t0 <= h[0] <= refused_at]
        extra_mb = watch.peak_mb - before_mb
        print(
            f"\n{case}: refused after {refused_seconds:.2f} s "
            f"(spinner {'seen' if timeline['spinner'] else 'not seen'}); B's Overview "
            f"{b_seconds:.2f} s, finished {(b_start + b_seconds) - refused_at:+.2f} s from the "
            f"refusal (negative: before it); {len(during)} health answers during A's upload, "
            "slowest "
            f"{max((h[1] for h in during), default=float('nan')):.3f} s; group memory "
            f"{before_mb:.0f} MB -> peak {watch.peak_mb:.0f} MB (+{extra_mb:.0f} MB), server "
            f"VmHWM {hwm_before_mb:.0f} -> {after_hwm_mb:.0f} MB"
        )

        # A: one sentence, within 30 s, nothing stored
        assert refused_seconds < REFUSED_WITHIN_S
        text = refusal.inner_text().strip()
        assert "\n" not in text and text.count(". ") == 0, text
        expect(page_a.get_by_text("No recording stored for this patient yet.")).to_be_visible()
        expect(page_a.get_by_test_id("stTable")).to_have_count(0)  # no recordings table
        # B and the health endpoint were answered while A's upload was sent and checked
        assert b_seconds < OTHER_USER_WITHIN_S
        assert during, "no health request fell between A's upload and its refusal"
        assert all(status == 200 for _, _, status in watch.health), watch.health
        assert max(h[1] for h in watch.health) < HEALTH_WITHIN_S
        # memory: the server and its readers together
        assert extra_mb < EXTRA_MEMORY_MB
        assert after_hwm_mb - hwm_before_mb < EXTRA_MEMORY_MB
