"""GPU probes that bench/gpu_check.sh runs after its training step (issue 16).

    python bench/gpu_probes.py --json OUT/probes.json [--log OUT/log.txt]

On a CUDA GPU it measures and writes to ``--json``:

* ``lstm_bf16``: the output dtype of ``torch.nn.LSTM`` under bfloat16
  autocast (cuDNN's RNNs are not on autocast's bf16 list: float32 is
  expected, i.e. the LSTM runs in float32 and bf16 brings it nothing; the
  training loop's fp16 default is the one that speeds it up);
* ``amp_sweep``: ShuffleNet bare training steps for every mixed precision
  (off, float16, bfloat16) and batch size (16, 64, 128): seconds per step,
  slices per second and the peak GPU memory (``torch.cuda.max_memory_allocated``);
* ``explain``: Grad-CAM of ShuffleNet and Integrated Gradients of the LSTM
  on the GPU (shapes, finite values, seconds);
* ``warnings``: with ``--log``, the warning lines the ``rehab train`` step
  wrote (counted, at most 20 distinct).

Without a CUDA GPU it prints one line saying that the probes were skipped,
writes ``{"skipped": ...}`` and exits 0: they measure the GPU only.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TRAIN_STEP = "=== rehab train"
_WARNING = re.compile(r"warn", re.IGNORECASE)


def train_warnings(log: str, *, limit: int = 20) -> list[dict]:
    """Distinct warning lines of the ``rehab train`` step in gpu_check.sh's log, counted.

    The step's output runs from its ``=== rehab train`` header to the next
    ``=== `` header.
    """
    lines, inside = [], False
    for line in log.splitlines():
        if line.startswith("=== "):
            inside = line.startswith(TRAIN_STEP)
            continue
        if inside and _WARNING.search(line):
            lines.append(line.strip()[:200])
    return [{"count": n, "line": text} for text, n in Counter(lines).most_common(limit)]


def lstm_bf16_dtype() -> dict:
    import torch

    lstm = torch.nn.LSTM(22, 32, batch_first=True).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out, _ = lstm(torch.randn(4, 25, 22, device="cuda"))
    return {"output_dtype": str(out.dtype), "float32": out.dtype == torch.float32}


def amp_sweep(batch_sizes=(16, 64, 128), steps: int = 10) -> list[dict]:
    import torch

    from rehab_core.training.throughput import build_timing_model, time_training_steps

    device = torch.device("cuda")
    rows = []
    for amp in (None, torch.float16, torch.bfloat16):
        for bs in batch_sizes:
            torch.manual_seed(0)
            x = torch.randn(bs, 3, 224, 224, device=device)
            y = (torch.rand(bs, device=device) > 0.5).float()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            seconds = statistics.median(
                time_training_steps(
                    build_timing_model("shufflenet"),
                    x,
                    y,
                    steps=steps,
                    warmup=3,
                    device=device,
                    amp_dtype=amp,
                )
            )
            rows.append(
                {
                    "model": "shufflenet",
                    "amp": "off" if amp is None else str(amp).removeprefix("torch."),
                    "batch_size": bs,
                    "s_per_step": seconds,
                    "slices_per_s": bs / seconds,
                    "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30,
                }
            )
    return rows


def explain_on_cuda() -> dict:
    import torch

    from rehab_core.explain import gradcam, integrated_gradients
    from rehab_core.models import create_model

    rng = np.random.default_rng(0)
    t = time.perf_counter()
    maps = gradcam(
        create_model("shufflenet", pretrained=False).cuda(),
        "shufflenet",
        rng.standard_normal((4, 3, 224, 224)).astype("float32"),
    )
    cam_s = time.perf_counter() - t
    t = time.perf_counter()
    attributions = integrated_gradients(
        create_model("lstm", n_chans=22, n_times=25).cuda(),
        rng.standard_normal((2, 22, 25)).astype("float32"),
        steps=8,
    )
    ig_s = time.perf_counter() - t
    torch.cuda.synchronize()
    return {
        "gradcam": {"shape": list(maps.shape), "finite": bool(np.isfinite(maps).all()), "s": cam_s},
        "integrated_gradients": {
            "shape": list(attributions.shape),
            "finite": bool(np.isfinite(attributions).all()),
            "s": ig_s,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where the figures go")
    parser.add_argument("--log", type=Path, help="gpu_check.sh's log, for the train warnings")
    args = parser.parse_args(argv)
    import torch

    result: dict = {}
    if args.log is not None and args.log.is_file():
        result["warnings"] = train_warnings(args.log.read_text(errors="replace"))
    if not torch.cuda.is_available():
        result["skipped"] = "no CUDA GPU: the GPU probes measure the GPU only"
        print(f"probes skipped: {result['skipped']}")
        args.json.write_text(json.dumps(result, indent=1))
        return 0
    result["gpu"] = torch.cuda.get_device_name(0)
    result["lstm_bf16"] = lstm_bf16_dtype()
    print(f"nn.LSTM output under bf16 autocast: {result['lstm_bf16']['output_dtype']}")
    result["amp_sweep"] = amp_sweep()
    for r in result["amp_sweep"]:
        print(
            f"shufflenet amp {r['amp']:8} bs {r['batch_size']:3}: {r['s_per_step'] * 1e3:7.2f} ms, "
            f"{r['slices_per_s']:7.0f} slices/s, peak {r['peak_gib']:.2f} GiB"
        )
    result["explain"] = explain_on_cuda()
    print(f"explain on cuda: {json.dumps(result['explain'])}")
    for w in result.get("warnings", []):
        print(f"train warning x{w['count']}: {w['line']}")
    args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
