#!/usr/bin/env bash
# GPU end-to-end check of rehab_core on ONE CUDA GPU, in under 8 minutes (each step has a timeout).
#
# On the device machine (bare: python3 with PyTorch, timm, torchvision, scikit-learn...), from the
# repository root, after `bash bench/gpu_wheels.sh` here has put the other dependencies in .whl/
# (carried with the run):   bash bench/gpu_check.sh
# Here, without a GPU, the same steps on the CPU, smaller:   bash bench/gpu_check.sh --cpu
#
# Prints the figures; keeps at most 8 files under $OUT (default /tmp/gpu_check): log.txt,
# train.json, throughput.json, throughput_det.json, data_path.json, listing.txt, probes.json
# (bench/gpu_probes.py: LSTM dtype under bf16, ShuffleNet AMP x batch sweep with peak memory,
# Grad-CAM / IG on the GPU, the train step's warnings; skipped without a GPU), summary.txt.
set -euo pipefail
DEVICE=cuda
case "${1:-}" in
  --cpu) DEVICE=cpu ;;
  "") ;;
  *) echo "usage: bash bench/gpu_check.sh [--cpu]" >&2; exit 2 ;;
esac
O=${OUT:-/tmp/gpu_check}; W=${GPU_CHECK_WORK:-/tmp/gpu_check_work}
mkdir -p "$O"; rm -rf "$W"; mkdir -p "$W"
PY=${PY:-python3}
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch' 2>/dev/null; then PY=.venv/bin/python; fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then  # the project's dependencies the machine lacks
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu_check_site .whl/*.whl
  export PYTHONPATH="$PWD:/tmp/gpu_check_site"
fi
LOG="$O/log.txt"; : >"$LOG"; FAILED=()
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log it, go on if it fails
  local name=$1 limit=$(($2 * SLOW)); shift 2
  echo "=== $name [t=${SECONDS}s, limit ${limit}s]" | tee -a "$LOG"
  local rc=0; timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then return 0; fi
  FAILED+=("$name"); tail -n 12 "$LOG"
  echo "--- $name FAILED (exit $rc$([ "$rc" -eq 124 ] && echo ': time limit'))" | tee -a "$LOG"
}

SLOW=1  # the limits fit a GPU machine with 16 cores; --cpu allows a shared 2-core machine more
if [ "$DEVICE" = cuda ]; then
  SIZE=(--n-patients 20 --n-with-signals 18 --minutes 0.2 --volumes 50 --jobs 8)
  TRAIN=(--folds 2 --epochs 3 --patience 3 --jobs 8)
  BENCH=(--only lstm shufflenet --steps 20 --warmup 3); DATA=(--batches 50 --workers 0 4 8)
else
  SLOW=${GPU_CHECK_SLOW:-10}
  SIZE=(--n-patients 20 --n-with-signals 18 --minutes 0.2 --volumes 50 --jobs 2)
  TRAIN=(--folds 2 --epochs 1 --patience 1 --max-train-batches 1 --jobs 2)
  BENCH=(--only lstm --steps 1 --warmup 1); DATA=(--batches 3 --workers 0 --size 64)
fi

step "environment" 30 $PY - "$DEVICE" <<'PY'
import shutil, subprocess, sys, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if shutil.which("nvidia-smi"):
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,memory.used",
                          "--format=csv,noheader"], capture_output=True, text=True).stdout.strip())
import rehab_core.cli, rehab_core.demo, rehab_core.workflows.train  # the dependencies load
sys.exit(sys.argv[1] == "cuda" and not torch.cuda.is_available())
PY
step "device listing opens no CUDA context (what the Retrain page and the runner do)" 30 \
  $PY - "$O/listing.txt" <<'PY'
import os, shutil, subprocess, sys, time, torch
def used():
    if not shutil.which("nvidia-smi"):
        return "no nvidia-smi"
    q = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader"]
    return subprocess.run(q, capture_output=True, text=True).stdout.strip()
def apps():
    if not shutil.which("nvidia-smi"):
        return ""
    q = ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"]
    return subprocess.run(q, capture_output=True, text=True).stdout
before = used()
from rehab_core.training.devices import list_devices
from rehab_core.training.scheduling import schedule_job
t = time.perf_counter(); devices = list_devices(); took = time.perf_counter() - t
schedule = schedule_job("auto", devices=devices)
time.sleep(1)
ours = [l for l in apps().splitlines() if l.split(",")[0].strip() == str(os.getpid())]
lines = [*(d.label for d in devices), f"listing took {took * 1e3:.0f} ms",
         f"GPU memory used {before} -> {used()}",
         f"torch.cuda.is_initialized() after listing: {torch.cuda.is_initialized()}",
         f"this process among the GPU's compute apps: {ours or 'no'}", *schedule.lines]
open(sys.argv[1], "w").write("\n".join(lines) + "\n"); print("\n".join(lines))
sys.exit(torch.cuda.is_initialized() or bool(ours))
PY
step "tiny cohort" 60 $PY -m rehab_core.cli demo-cohort --out "$W/cohort" --seed 5 "${SIZE[@]}"
if ! $PY -c 'import SimpleITK' 2>/dev/null; then  # its 53 MB wheel does not fit the 64 MiB carry
  echo "no SimpleITK here: fMRI slices without MNI152 registration (a CPU step)" | tee -a "$LOG"
  TRAIN+=(--fmri-normalization none)
fi
step "rehab train --device $DEVICE (2 folds x LSTM + ShuffleNet)" 150 $PY -m rehab_core.cli train \
  --cohort "$W/cohort" --out "$W/train" --test-fraction 0.25 --device "$DEVICE" --no-pretrained \
  "${TRAIN[@]}"
cp "$W/train/evaluation.json" "$O/train.json" 2>/dev/null || true
step "bench_train_throughput (bare model step vs the real loop)" 90 \
  $PY bench/bench_train_throughput.py --device "$DEVICE" "${BENCH[@]}" --json "$O/throughput.json"
if [ "$DEVICE" = cuda ]; then
  step "bench_train_throughput --deterministic (what the determinism switch costs)" 45 \
    $PY bench/bench_train_throughput.py --device cuda --only shufflenet --steps 20 --warmup 3 \
    --deterministic --json "$O/throughput_det.json"
fi
step "bench_data_path (read on the CPU, copy, augmentation on the device)" 60 \
  $PY bench/bench_data_path.py --device "$DEVICE" "${DATA[@]}" --json "$O/data_path.json"
if [ "$DEVICE" = cuda ]; then
  step "probes: LSTM under bf16, AMP x batch sweep, Grad-CAM / IG on the GPU, train warnings" 60 \
    $PY bench/gpu_probes.py --json "$O/probes.json" --log "$LOG"
else
  echo "=== probes skipped: no CUDA GPU with --cpu (they measure the GPU only)" | tee -a "$LOG"
fi

echo "=== figures [t=${SECONDS}s]"
$PY - "$O" "$W" <<'PY' | tee "$O/summary.txt"
import json, sys
from pathlib import Path
o, w = Path(sys.argv[1]), Path(sys.argv[2])
def load(p):
    try:
        return json.loads(Path(p).read_text())
    except (OSError, ValueError) as err:
        print(f"{Path(p).name}: none ({type(err).__name__})"); return None
if (m := load(w / "train/shufflenet_lstm/manifest.json")):
    t = m["training"]; ev = load(w / "train/evaluation.json") or {}
    print("train: device", t["device"], "| total s", ev.get("seconds"),
          "| augmentation", t["settings"].get("augmentation"))
    for kind, hs in t["histories"].items():
        for f, h in enumerate(hs):
            print(f"  {kind} fold{f} (epoch, s, val_loss):",
                  [(r["epoch"], round(r["seconds"], 2), round(r["val_loss"], 3)) for r in h["history"]])
for name in ("throughput", "throughput_det"):
    for r in load(o / f"{name}.json") or []:
        print(f"{name}: {r['model']} bs {r['batch_size']} amp {r['amp']} det {r.get('deterministic')}:"
              f" bare {r['items_per_s']:.0f} it/s, real {r['real_items_per_s']:.0f} it/s,"
              f" real/bare {r['real_over_bare']:.2f}, data {r['data_s_per_batch'] * 1e3:.1f} ms/batch")
if (d := load(o / "data_path.json")):
    for r in d["rows"]:
        print(f"data path, {r['workers']} workers: read {r['read_slices_per_s']:.0f} slices/s (CPU side),"
              f" augment {r['augment_slices_per_s']:.0f} slices/s on {r['device']},"
              f" total {r['total_slices_per_s']:.0f} slices/s")
    print(d["verdict"])
if (p := load(o / "probes.json")):
    if "skipped" in p:
        print("probes skipped:", p["skipped"])
    else:
        print("nn.LSTM under bf16 autocast:", p["lstm_bf16"]["output_dtype"])
        for r in p["amp_sweep"]:
            print(f"probe shufflenet amp {r['amp']} bs {r['batch_size']}: "
                  f"{r['slices_per_s']:.0f} slices/s, peak {r['peak_gib']:.2f} GiB")
        print("explain on cuda:", json.dumps(p["explain"]))
    for w in p.get("warnings", []):
        print(f"train warning x{w['count']}: {w['line']}")
print((o / "listing.txt").read_text() if (o / "listing.txt").exists() else "listing: none")
PY
echo "=== done in ${SECONDS}s; failed steps: ${FAILED[*]:-none}"; ls "$O"
[ ${#FAILED[@]} -eq 0 ]
