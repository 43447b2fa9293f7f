"""Time and memory of the hostile uploads of issue 14, through the store's upload path.

Run ``python bench/bench_hostile_uploads.py`` from the repository root. It
builds the files of ``tests/_hostile.py`` (the self-referencing FIF, the
``.fif.gz``, EEGLAB and ``.nii.gz`` bombs, 40,000 channel names) and uploads
each with ``Store.add_upload``, as the Patients page does, then prints:

* the seconds until the refusal, and its sentence;
* the peak extra memory: the largest rise, above the level before the upload,
  of the proportional set size (PSS: shared pages split between the processes
  that share them) summed over this process and every process below it (the
  sandbox's forkserver and its children), sampled every 10 ms from
  ``/proc/<pid>/smaps_rollup``.

The target (issue 14): each ends in under 30 s with under 500 MB of extra
memory, refused with one sentence. The store and the sandbox's forkserver are
warmed first by one ordinary upload, so start-up is not counted; the server
pays it once. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import _hostile  # noqa: E402

TARGET_S, TARGET_MB = 30.0, 500.0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _pss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            continue
    return total_kb / 1000


class PeakMemory:
    """Samples the summed PSS of this process tree every ``interval_s`` in a thread."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.baseline = _pss_mb(_descendants(os.getpid()))
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _pss_mb(_descendants(os.getpid())))
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def extra_mb(self) -> float:
        return self.peak - self.baseline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", help="write the files to this folder and keep them")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rehab_core.io import InputError
    from rehab_core.storage import open_store

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    files = [
        ("signals", "rec_raw.fif", _hostile.self_referencing_fif(work / "fif")),
        ("signals", "bomb_raw.fif.gz", _hostile.fif_gz_bomb(work / "bomb_raw.fif.gz")),
        ("signals", "bomb.set", _hostile.eeglab_bomb(work / "bomb.set")),
        ("fmri", "bomb.nii.gz", _hostile.nifti_gz_bomb(work / "bomb.nii.gz")),
        ("signals", "names.txt", _hostile.many_channel_names(work / "names.txt")),
    ]
    store = open_store(url=f"sqlite:///{work / 'rehab.db'}", data_dir=work / "data")
    patient = store.create_patient("BENCH-1")
    warm = work / "warm.txt"  # an ordinary recording: starts the sandbox's forkserver
    _hostile.many_channel_names(warm, n_names=3, n_rows=1200)
    warm.write_text(warm.read_text().replace("# sfreq: 1000", "# sfreq: 100"))
    store.add_upload(patient.id, "signals", "warm.txt", warm)

    print(f"load average {os.getloadavg()[0]:.2f}; target: < {TARGET_S:g} s, < {TARGET_MB:g} MB")
    print(f"{'file':<18}{'size':>10}{'seconds':>9}{'extra MB':>10}  refusal")
    failed = False
    for kind, name, path in files:
        with PeakMemory() as memory:
            start = time.perf_counter()
            try:
                store.add_upload(patient.id, kind, name, path)
                outcome = "ACCEPTED"
            except InputError as err:
                outcome = f"{type(err).__name__}: {err}"
            seconds = time.perf_counter() - start
        ok = seconds < TARGET_S and memory.extra_mb < TARGET_MB and outcome != "ACCEPTED"
        failed |= not ok
        size = f"{path.stat().st_size / 1e3:,.0f} KB"
        print(f"{name:<18}{size:>10}{seconds:>9.2f}{memory.extra_mb:>10.1f}  {outcome}")
    store.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
