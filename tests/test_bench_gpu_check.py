"""bench/gpu_check.sh parses, and its GPU probes skip cleanly without a GPU (issue 16)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _probes():
    spec = importlib.util.spec_from_file_location("gpu_probes", REPO / "bench" / "gpu_probes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is needed to parse the script")
def test_the_gpu_check_script_parses_and_runs_the_probes_on_a_gpu_only():
    script = REPO / "bench" / "gpu_check.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = script.read_text()
    assert 'bench/gpu_probes.py --json "$O/probes.json" --log "$LOG"' in text
    assert "=== probes skipped: no CUDA GPU with --cpu" in text


def test_without_a_gpu_the_probes_say_so_and_still_count_the_train_warnings(
    tmp_path, monkeypatch, capsys
):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    log = tmp_path / "log.txt"
    log.write_text(
        "=== environment [t=0s]\nx.py:1: UserWarning: not from training\n"
        "=== rehab train --device cuda (2 folds) [t=9s]\n"
        "loop.py:7: UserWarning: Plan failed with a cudnnException\n"
        "epoch 1/3 ...\nloop.py:7: UserWarning: Plan failed with a cudnnException\n"
        "=== bench_train_throughput [t=90s]\nWarning: elsewhere\n"
    )
    out = tmp_path / "probes.json"
    assert _probes().main(["--json", str(out), "--log", str(log)]) == 0
    result = json.loads(out.read_text())
    assert result["skipped"] == "no CUDA GPU: the GPU probes measure the GPU only"
    assert result["warnings"] == [
        {"count": 2, "line": "loop.py:7: UserWarning: Plan failed with a cudnnException"}
    ]
    assert "probes skipped: no CUDA GPU" in capsys.readouterr().out


@pytest.mark.gpu
def test_the_probes_measure_the_gpu(tmp_path):
    out = tmp_path / "probes.json"
    assert _probes().main(["--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["lstm_bf16"]["output_dtype"] in ("torch.float32", "torch.bfloat16")
    assert len(result["amp_sweep"]) == 9
    assert all(r["peak_gib"] > 0 and r["slices_per_s"] > 0 for r in result["amp_sweep"])
    assert result["explain"]["gradcam"]["finite"] and result["explain"]["integrated_gradients"]
