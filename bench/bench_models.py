"""Speed of the registered models: image forward passes and LSTM training steps.

Image backbones: forward pass of one (16, 3, 224, 224) batch (the paper's
slice batch size) in eval mode under ``torch.inference_mode``.
LSTM: forward + backward of one (32, 22, n_times) batch (the paper's signal
batch size; 22 channels; 10-s windows at 250 Hz and 1000 Hz).

Usage, from the repository root with ``rehab_core`` importable
(``pip install -e .`` or ``PYTHONPATH=.``)::

    python bench/bench_models.py                     # CPU, all models, 3 timed repeats
    python bench/bench_models.py --device cuda --repeats 10
    python bench/bench_models.py --models shufflenet lstm --n-times 2500

Each figure is the median of ``--repeats`` runs after one warm-up run.
Randomly initialised weights (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark never downloads weights

import torch

from rehab_core.models import create_model, list_models

IMAGE_BATCH = (16, 3, 224, 224)
SIGNAL_BATCH, SIGNAL_CHANS = 32, 22


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(run: Callable[[], None], device: torch.device, repeats: int) -> float:
    run()  # warm-up: kernel selection, allocator
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_image(name: str, device: torch.device, repeats: int) -> float:
    model = create_model(name).to(device).eval()
    x = torch.randn(*IMAGE_BATCH, device=device)

    def run() -> None:
        with torch.inference_mode():
            model(x)

    return _median_seconds(run, device, repeats)


def bench_lstm(n_times: int, device: torch.device, repeats: int) -> float:
    model = create_model("lstm", n_chans=SIGNAL_CHANS).to(device).train()
    x = torch.randn(SIGNAL_BATCH, SIGNAL_CHANS, n_times, device=device)

    def run() -> None:
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()

    return _median_seconds(run, device, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per model (default: 3)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument("--models", nargs="+", default=list_models(), choices=list_models())
    parser.add_argument(
        "--n-times", nargs="+", type=int, default=[2500, 10000], help="LSTM window lengths"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads, "
        f"{platform.processor() or platform.machine()}, median of {args.repeats} after 1 warm-up"
    )
    print(f"{'model':<12} {'input':<22} {'pass':<18} {'seconds':>8} {'per item (ms)':>14}")
    for name in args.models:
        if name == "lstm":
            for n_times in args.n_times:
                seconds = bench_lstm(n_times, device, args.repeats)
                shape = f"({SIGNAL_BATCH}, {SIGNAL_CHANS}, {n_times})"
                print(
                    f"{name:<12} {shape:<22} {'forward+backward':<18} {seconds:>8.3f} "
                    f"{1000 * seconds / SIGNAL_BATCH:>14.1f}"
                )
        else:
            seconds = bench_image(name, device, args.repeats)
            shape = str(IMAGE_BATCH)
            print(
                f"{name:<12} {shape:<22} {'forward':<18} {seconds:>8.3f} "
                f"{1000 * seconds / IMAGE_BATCH[0]:>14.1f}"
            )


if __name__ == "__main__":
    main()
