"""Training-step throughput of the paper's models (samples per second).

One step is what :func:`rehab_core.training.fit_model` does per batch:
forward (under the same mixed-precision rule: bf16/fp16 on CUDA, full
precision elsewhere), BCE-with-logits loss, backward, Adam step.  Data are
random tensors already on the device, so the figure is the model's ceiling,
without DataLoader cost.  The step timer is
:func:`rehab_core.training.throughput.time_training_steps`, shared with the
time estimate of the retrain page; bench/bench_train_throughput.py compares it
with the real loop.

    python bench/bench_training.py                       # LSTM 250 Hz and 1000 Hz + ShuffleNet
    python bench/bench_training.py --device cuda --steps 20
    python bench/bench_training.py --only lstm --steps 2 --threads 2

Cases: LSTM (22 channels, 10-s windows at 250 Hz = 2500 samples and at
1000 Hz = 10000 samples, batch 32) and one image backbone (default
ShuffleNet V2, batch 16, 3 x 224 x 224).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per case")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument(
        "--image-model", default="shufflenet", help="registered image model to time"
    )
    parser.add_argument("--only", choices=("lstm", "image"), default=None)
    parser.add_argument(
        "--n-times",
        type=int,
        nargs="+",
        default=[25, 2500, 10000],
        help=(
            "LSTM window lengths to time (10-s windows: 25 = envelope frames of 0.4 s, "
            "the rehab train default; 2500 = raw at 250 Hz; 10000 = raw at 1000 Hz)"
        ),
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the rows to this JSON file"
    )
    args = parser.parse_args(argv)

    import torch

    from rehab_core.training.settings import resolve_amp, select_device
    from rehab_core.training.throughput import time_training_steps

    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    amp_dtype = resolve_amp("auto", device)
    try:
        from rehab_core.models import create_model
    except ImportError as err:  # the models subpackage is built in parallel
        print(f"rehab_core.models is not available ({err}); nothing to time.")
        return 1

    cases = []
    if args.only in (None, "lstm"):
        for n_times in args.n_times:
            sfreq = n_times / 10.0
            cases.append(
                (
                    f"lstm @ {sfreq:g} Hz",
                    32,
                    (22, n_times),
                    lambda n=n_times, f=sfreq: create_model("lstm", n_chans=22, n_times=n, sfreq=f),
                )
            )
    if args.only in (None, "image"):
        cases.append(
            (
                args.image_model,
                16,
                (3, 224, 224),
                lambda: create_model(args.image_model, pretrained=False),
            )
        )

    header = (
        f"{'model':<20}{'batch':>6}  {'input':<12}{'device':<8}{'amp':<9}{'thr':>4}"
        f"{'s/step':>10}{'samples/s':>11}"
    )
    print(header)
    print("-" * len(header), flush=True)
    rows = []
    gen = torch.Generator().manual_seed(0)
    for name, batch, shape, build in cases:
        torch.manual_seed(0)
        model = build()
        x = torch.randn((batch, *shape), generator=gen).to(device)
        y = (torch.rand(batch, generator=gen) > 0.5).float().to(device)
        times = time_training_steps(
            model, x, y, steps=args.steps, warmup=args.warmup, device=device, amp_dtype=amp_dtype
        )
        median = statistics.median(times)
        rows.append(
            {
                "model": name,
                "batch": batch,
                "input": "x".join(map(str, shape)),
                "device": str(device),
                "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
                "threads": torch.get_num_threads(),
                "steps": len(times),
                "s_per_step": median,
                "samples_per_s": batch / median,
            }
        )
        del model, x, y
        r = rows[-1]
        print(
            f"{r['model']:<20}{r['batch']:>6}  {r['input']:<12}{r['device']:<8}{r['amp']:<9}"
            f"{r['threads']:>4}{r['s_per_step']:>10.3f}{r['samples_per_s']:>11.1f}",
            flush=True,
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
