"""End-to-end check of distributed training on a tiny synthetic problem.

Run on CPU with two processes (Gloo)::

    torchrun --nproc_per_node 2 --standalone -m rehab_core.training.ddp_smoke --out /tmp/ddp

or on the GPUs of one machine (NCCL) with ``--device cuda``.  Every rank
trains the same :func:`~rehab_core.training.fit_model` call on seeded
synthetic windows and writes ``rank{r}.safetensors`` (its final weights) and
``rank{r}.json`` (its history); rank 0 alone writes checkpoints under
``out/checkpoints``.  ``--fits N`` trains N models in a row over the one
process group, as a job's ensemble does (fit k > 1 checkpoints under
``out/checkpoints-k``).  After training, the ranks compare the SHA-256 of their
weights; then the process group is freed and each rank checks that it is
really gone.  The exit status is 0 only if the ranks agree and both hold.
Without torchrun it runs as a single process, which is also a quick local check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["make_smoke_data", "main", "run_smoke"]


def make_smoke_data(
    *, n_patients: int = 16, n_windows: int = 5, n_chans: int = 4, n_times: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Seeded synthetic windows whose first channel's mean separates the outcomes.

    Returns
    -------
    windows : ndarray of float32, shape (n_patients * n_windows, n_chans, n_times)
    patient_ids : ndarray of int, shape (n_patients * n_windows,)
    labels : dict
        Patient id -> outcome (alternating 0, 1).
    """
    rng = np.random.default_rng(seed)
    outcome = np.arange(n_patients) % 2
    ids = np.repeat(np.arange(n_patients), n_windows)
    windows = rng.normal(size=(len(ids), n_chans, n_times)).astype(np.float32)
    windows[:, 0, :] += np.where(outcome[ids] == 1, 1.0, -1.0)[:, None].astype(np.float32)
    return windows, ids, {int(p): int(outcome[p]) for p in range(n_patients)}


def _tiny_model(n_chans: int) -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv1d(n_chans, 8, kernel_size=5, padding=2),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(8, 1),
    )


def run_smoke(
    out_dir: str | Path,
    *,
    epochs: int = 3,
    device: str = "cpu",
    seed: int = 0,
    n_fits: int = 1,
) -> dict[str, Any]:
    """Train the tiny model with :func:`fit_model` ``n_fits`` times and write this rank's results.

    Parameters
    ----------
    out_dir : path
        Folder for ``rank{r}.safetensors``, ``rank{r}.json`` and rank 0's
        ``checkpoints/`` (``checkpoints-k/`` for fit k > 1).
    epochs : int
        Epochs to train (too few for early stopping to end the run first).
    device : str
        ``"cpu"`` (Gloo), ``"cuda"`` (NCCL) or ``"auto"``.
    seed : int
        Seed of data split, weights and shuffling (fit k uses ``seed + k - 1``).
    n_fits : int
        Models trained one after the other, each by its own ``fit_model`` call.

    Returns
    -------
    dict
        ``rank``, ``world_size``, ``sha256`` over the final weights of every
        fit, the ``best_epoch`` and ``history`` of the last fit, and ``fits``
        (``sha256``, ``best_epoch``, ``history`` of each).
    """
    import torch
    from safetensors.torch import save_file

    from rehab_core.training.datasets import WindowDataset
    from rehab_core.training.distributed import distributed_env
    from rehab_core.training.loop import fit_model
    from rehab_core.training.settings import TrainSettings

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = distributed_env()
    rank = env[0] if env is not None else 0
    digest = hashlib.sha256()
    fits = []
    for fit in range(1, n_fits + 1):
        fit_seed = seed + fit - 1
        windows, ids, labels = make_smoke_data(seed=fit_seed)
        # A fixed split (outcomes alternate, so both sets hold both); scikit-learn stays unimported.
        n_train = 3 * len(labels) // 4
        train = WindowDataset(windows, ids, labels, indices=np.flatnonzero(ids < n_train))
        val = WindowDataset(windows, ids, labels, indices=np.flatnonzero(ids >= n_train))
        # different initial weights per rank: DDP must broadcast rank 0's
        torch.manual_seed(fit_seed + rank)
        model = _tiny_model(windows.shape[1])
        settings = TrainSettings(epochs=epochs, lr=1e-2, batch_size=8, seed=fit_seed, device=device)
        folder = out / ("checkpoints" if fit == 1 else f"checkpoints-{fit}")
        result = fit_model(model, train, val, settings, checkpoint_dir=folder)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        fit_digest = hashlib.sha256()
        for name in sorted(state):
            for h in (digest, fit_digest):
                h.update(name.encode())
                h.update(state[name].numpy().tobytes())
        fits.append(
            {
                "sha256": fit_digest.hexdigest(),
                "best_epoch": result.best_epoch,
                "history": result.history,
            }
        )
    save_file(state, str(out / f"rank{rank}.safetensors"))
    summary = {
        "rank": rank,
        "world_size": result.world_size,
        "sha256": digest.hexdigest(),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "fits": fits,
    }
    (out / f"rank{rank}.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def _agree(summary: dict[str, Any]) -> bool:
    """True if every rank's weights hash equals the others' (over the run's process group).

    The group is the one :func:`main` opened before training, so no second
    rendezvous is needed: re-initialising a group on the same ``env://`` store
    after destroying one is racy (a rank can meet the previous group's keys).
    """
    import torch.distributed as dist

    if summary["world_size"] == 1:
        return True
    digests: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(digests, summary["sha256"])
    return len(set(digests)) == 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m rehab_core.training.ddp_smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fits", type=int, default=1, help="models trained one after another")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from rehab_core.training.distributed import setup_distributed, shutdown_distributed

    # one process group for every fit and the final check, freed here (not at exit)
    setup_distributed(args.device)
    try:
        summary = run_smoke(
            args.out, epochs=args.epochs, device=args.device, seed=args.seed, n_fits=args.fits
        )
        ok = _agree(summary)
    finally:
        freed = shutdown_distributed()
    print(
        f"rank {summary['rank']}/{summary['world_size']}: {len(summary['fits'])} fit(s), "
        f"best epoch {summary['best_epoch']}, weights {summary['sha256'][:16]} "
        f"({'ranks agree' if ok else 'RANKS DISAGREE'}), "
        f"process group {'freed' if freed else 'STILL REFERENCED after its destruction'}",
        flush=True,
    )
    return 0 if ok and freed else 1


if __name__ == "__main__":
    sys.exit(main())
