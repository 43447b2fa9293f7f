"""Training throughput per backbone: the bare model step against the real training loop.

For the LSTM and every image backbone (``rehab_core.models.list_models("image")``):

(a) bare: forward + BCE + backward + Adam on random tensors already on the
    device (:func:`rehab_core.training.throughput.measure_model_steps`, the
    same timer as the retrain page's time estimate), in items per second;
(b) real: :func:`rehab_core.training.fit_model` on a synthetic
    ``WindowDataset`` / ``SliceDataset`` (with the default slice
    augmentation, applied per batch on the device) for ``warmup + steps``
    batches of one epoch, no checkpoint.  The loop reads the loss back only
    at its progress reports; with reports far apart it reports the first and
    the last batch alone, so the time between those two events, over the
    batches 2 to ``warmup + steps``, gives slices or windows per second end
    to end: DataLoader, host-to-device copies, augmentation, the loop's
    bookkeeping and its determinism setting included (validation excluded;
    batch 1 pays the one-off costs).

The ratio real / bare says how much of the model's speed the loop delivers.

    python bench/bench_train_throughput.py --device cpu --threads 2 --steps 3
    python bench/bench_train_throughput.py --device cuda --steps 20 --json out.json
    python bench/bench_train_throughput.py --only lstm shufflenet --steps 2

The load average (``os.getloadavg``) is printed with every row: on a shared
machine other work slows both measurements.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _folder in (REPO, REPO / "bench"):  # rehab_core, and the benchmarks' shared helpers
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from _machine import load_average, print_machine  # noqa: E402 - bench/ is on sys.path


def real_loop_seconds(
    name: str,
    *,
    device: str,
    batch_size: int,
    steps: int,
    warmup: int,
    window_shape: tuple[int, int] | None,
    deterministic: bool = False,
) -> float:
    """Mean seconds per training batch of ``fit_model`` over batches 2 to ``warmup + steps``."""
    import torch

    if warmup < 1 or steps < 1:
        raise ValueError(f"{warmup=} and {steps=} must be at least 1 (batch 1 starts the clock).")

    from rehab_core.training import TrainSettings, fit_model
    from rehab_core.training.throughput import build_timing_model, synthetic_dataset

    n_batches = warmup + steps
    train = synthetic_dataset(name, batch_size * n_batches, window_shape=window_shape, seed=0)
    val = synthetic_dataset(name, batch_size, window_shape=window_shape, seed=1, augment=False)
    torch.manual_seed(0)
    model = build_timing_model(name, window_shape)
    settings = TrainSettings(
        epochs=1,
        batch_size=batch_size,
        device=device,
        max_train_batches=n_batches,
        max_val_batches=1,
        seed=0,
        deterministic=deterministic,
    )
    stamps: dict[int, float] = {}

    def on_progress(event: dict[str, Any]) -> None:
        if event["event"] == "batch":  # the loop has just read the loss: the batch is done
            stamps[event["batch"]] = time.perf_counter()

    # reports far apart: only the first and the last batch, so no batch in between waits
    fit_model(model, train, val, settings, progress=on_progress, progress_interval_s=1e9)
    if sorted(stamps) != [1, n_batches]:
        raise RuntimeError(
            f"fit_model reported batches {sorted(stamps)}, expected 1 and {n_batches}."
        )
    return (stamps[n_batches] - stamps[1]) / (n_batches - 1)


def main(argv: list[str] | None = None) -> int:
    from rehab_core.models import list_models

    names = ["lstm", *list_models("image")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--steps", type=int, default=3, help="timed batches per model and path")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches before them")
    parser.add_argument("--only", nargs="+", choices=names, default=names, metavar="MODEL")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--window-shape",
        type=int,
        nargs=2,
        default=(22, 25),
        metavar=("N_CHANS", "N_TIMES"),
        help="LSTM window (default 22 x 25: envelope frames of 10-s windows, the train default)",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="train the real loop with deterministic algorithms (no cuDNN autotuning)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be at least 1")

    import torch

    from rehab_core.training.settings import select_device
    from rehab_core.training.throughput import measure_model_steps

    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    window_shape = tuple(args.window_shape)
    print_machine(device)
    header = (
        f"{'model':<11}{'batch':>6} {'item':<8}{'amp':<8}"
        f"{'bare s/b':>9}{'bare it/s':>10}{'data s/b':>9}{'real s/b':>9}{'real it/s':>10}"
        f"{'real/bare':>10}{'load':>6}"
    )
    print(header)
    print("-" * len(header), flush=True)
    rows = []
    for name in args.only:
        signal = name == "lstm"
        shape = window_shape if signal else None
        bare = measure_model_steps(
            name, device=device, window_shape=shape, steps=args.steps, warmup=args.warmup
        )
        real_s = real_loop_seconds(
            name,
            device=str(device),
            batch_size=bare.batch_size,
            steps=args.steps,
            warmup=args.warmup,
            window_shape=shape,
            deterministic=args.deterministic,
        )
        row = {
            **bare.to_dict(),
            "unit": "windows/s" if signal else "slices/s",
            "real_s_per_batch": real_s,
            "real_items_per_s": bare.batch_size / real_s,
            "real_over_bare": bare.train_s_per_step / real_s,
            "deterministic": args.deterministic,
            "load_average": load_average(),
        }
        rows.append(row)
        item = "window" if signal else "slice"
        print(
            f"{name:<11}{row['batch_size']:>6} {item:<8}{row['amp']:<8}"
            f"{row['train_s_per_step']:>9.3f}{row['items_per_s']:>10.1f}"
            f"{row['data_s_per_batch']:>9.3f}{real_s:>9.3f}{row['real_items_per_s']:>10.1f}"
            f"{row['real_over_bare']:>10.2f}{row['load_average'] or float('nan'):>6.2f}",
            flush=True,
        )
    print(
        "bare: model step on device-resident random tensors; data: the loop's data path per "
        "batch (DataLoader, copy, augmentation on the device); real: fit_model per batch, end "
        "to end; it/s = items per second"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
