"""The training data path alone: augmented 224 x 224 slices per second, and where the time goes.

What ``fit_model`` does before each step on a batch of slices
(:func:`rehab_core.training.throughput.time_data_path`):

* read: the DataLoader hands over a batch of stored slices (the CPU side:
  indexing the array, copies, collation; with ``--workers N`` the wait for
  a batch that N persistent worker processes prepared);
* copy: the batch goes to the training device (pinned memory on CUDA);
* augment: rotation, flip, scale, shift, contrast, bias field, noise
  (:func:`rehab_core.training.augmentation.augment_batch`) on the device.

Issue 16 asks for at least 2,000 augmented slices per second on the CPU
side, or augmentation on the device: the CPU side here is "read" (the
augmentation runs on the device), and its rate is printed against that
target.  On ``--device cpu`` the augmentation runs on the CPU too, which
is what CPU training pays.

    python bench/bench_data_path.py --device cpu --workers 0 2 --json out.json
    python bench/bench_data_path.py --device cuda --batches 50

The load average is printed: on a shared machine other work slows every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _folder in (REPO, REPO / "bench"):  # rehab_core, and the benchmarks' shared helpers
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from _machine import load_average, print_machine  # noqa: E402 - bench/ is on sys.path

TARGET_SLICES_PER_S = 2000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    parser.add_argument("--batch", type=int, default=16, help="slices per batch (paper: 16)")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per setting")
    parser.add_argument("--size", type=int, default=224, help="slice height and width")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers to try"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.batches < 1 or args.size < 8:
        parser.error("--batch and --batches must be at least 1 and --size at least 8")

    import numpy as np
    import torch

    from rehab_core.training.augmentation import SliceAugmentation
    from rehab_core.training.datasets import SliceDataset
    from rehab_core.training.settings import select_device
    from rehab_core.training.throughput import time_data_path

    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    n = args.batch * (args.batches + 1)
    rng = np.random.default_rng(0)
    slices = rng.standard_normal((n, 3, args.size, args.size), dtype=np.float32)
    ids = np.arange(n) % 8
    dataset = SliceDataset(
        slices, ids, {p: p % 2 for p in range(8)}, augmentation=SliceAugmentation(), seed=0
    )
    load_start = load_average()
    print_machine(
        device,
        f"; batches of {args.batch} slices 3 x {args.size} x {args.size}, "
        f"augmentation {SliceAugmentation().to_dict()}",
    )
    header = (
        f"{'workers':>7} {'read ms':>8} {'copy ms':>8} {'augment ms':>10}"
        f" {'read sl/s':>10} {'augment sl/s':>12} {'total sl/s':>10} {'load':>5}"
    )
    print(header)
    print("-" * len(header), flush=True)
    rows = []
    for workers in args.workers:
        parts = time_data_path(
            dataset,
            batch_size=args.batch,
            batches=args.batches,
            device=device,
            num_workers=workers,
        )
        read, copy, augment = (statistics.median(p[k] for p in parts) for k in range(3))
        total = sum(sum(p) for p in parts) / len(parts)
        row = {
            "workers": workers,
            "device": str(device),
            "batch": args.batch,
            "size": args.size,
            "timed_batches": len(parts),
            "read_s_per_batch": read,
            "copy_s_per_batch": copy,
            "augment_s_per_batch": augment,
            "read_slices_per_s": args.batch / read,
            "augment_slices_per_s": args.batch / augment,
            "total_slices_per_s": args.batch / total,
            "load_average": load_average(),
        }
        rows.append(row)
        print(
            f"{workers:>7} {read * 1e3:>8.2f} {copy * 1e3:>8.2f} {augment * 1e3:>10.2f}"
            f" {row['read_slices_per_s']:>10.0f} {row['augment_slices_per_s']:>12.0f}"
            f" {row['total_slices_per_s']:>10.0f} {row['load_average'] or float('nan'):>5.2f}",
            flush=True,
        )
    best = max(rows, key=lambda r: r["read_slices_per_s"])
    where = "on the GPU" if device.type == "cuda" else f"on {device}"
    verdict = (
        f"CPU side (read) at best {best['read_slices_per_s']:.0f} slices/s with "
        f"{best['workers']} worker(s): "
        + ("meets" if best["read_slices_per_s"] >= TARGET_SLICES_PER_S else "below")
        + f" the {TARGET_SLICES_PER_S} slices/s target; the augmentation runs {where} "
        f"({best['augment_slices_per_s']:.0f} slices/s there)."
    )
    print(
        "read: DataLoader hands over a batch; copy: to the device; augment: on the device; "
        "medians per batch; total: mean per batch of the three, end to end"
    )
    print(verdict, flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "rows": rows,
            "verdict": verdict,
            "target_slices_per_s": TARGET_SLICES_PER_S,
            "load_average_start": load_start,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
        }
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
