"""Benchmark of the synthetic cohort: generation time, disk size, and what is learnable.

Measures

1. the default cohort (102 patients, 86 with EEG-EMG, default minutes and
   volumes): wall time with ``--n-jobs`` workers and size on disk;
2. one paper-scale patient (9 min of EEG-EMG, 120 volumes): time and sizes;
3. the hand-made summaries of :mod:`rehab_core.demo` computed from the files,
   fed to a cross-validated logistic regression (5-fold, stratified): AUC for
   the outcome per modality and fused, beside the cohort's realised
   Bayes-optimal AUC (``p_good_bayes``) and the Monte-Carlo ceilings.

Usage::

    python bench/bench_demo.py [--out DIR] [--n-jobs 2] [--keep] [--json results.json]

Takes a few minutes on 2 cores. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _size_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _cv_auc(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rehab_core.evaluation import roc_auc

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    return roc_auc(y, p)


def summarise_cohort(info) -> dict[str, float]:
    """Cross-validated AUCs of the hand-made summaries on a generated cohort."""
    import nibabel as nib

    from rehab_core.demo import FMRI_FEATURES, SIGNAL_FEATURES, TR_S, fmri_summary, signal_summary
    from rehab_core.evaluation import roc_auc
    from rehab_core.io import read_signals_text

    rows = []
    for p in info.patients:
        side = p.participant["affected_side"]
        img = nib.load(p.fmri_path)
        f = fmri_summary(np.asarray(img.dataobj), img.affine, TR_S, affected_side=side)
        s = None
        if p.signals_path is not None:
            raw = read_signals_text(p.signals_path)
            s = signal_summary(
                raw.get_data() * 1e6, raw.info["sfreq"], raw.ch_names, affected_side=side
            )
        rows.append((p, f, s))
    y_all = np.array([p.participant["outcome"] == "good" for p, _, _ in rows], int)
    x_img = np.array([[f[k] for k in FMRI_FEATURES] for _, f, _ in rows])
    both = [i for i, (_, _, s) in enumerate(rows) if s is not None]
    x_sig = np.array([[rows[i][2][k] for k in SIGNAL_FEATURES] for i in both])
    y_sig = y_all[both]
    p_bayes = np.array([p.ground_truth["p_good_bayes"] for p, _, _ in rows])
    return {
        "n_patients": len(rows),
        "n_with_signals": len(both),
        "good_fraction": float(y_all.mean()),
        "auc_p_good_bayes_all": roc_auc(y_all, p_bayes),
        "auc_p_good_bayes_with_signals": roc_auc(y_sig, p_bayes[both]),
        "cv_auc_fmri_summary_all": _cv_auc(x_img, y_all),
        "cv_auc_signal_summary": _cv_auc(x_sig, y_sig),
        "cv_auc_fmri_summary_with_signals": _cv_auc(x_img[both], y_sig),
        "cv_auc_fused_summary_with_signals": _cv_auc(np.hstack([x_sig, x_img[both]]), y_sig),
        "auc_latent_c_with_signals": roc_auc(
            y_sig, [rows[i][0].ground_truth["latent_c"] for i in both]
        ),
        "auc_latent_n_all": roc_auc(y_all, [p.ground_truth["latent_n"] for p, _, _ in rows]),
    }


def main() -> None:
    from rehab_core.demo import (
        DEFAULT_MINUTES,
        DEFAULT_VOLUMES,
        generate_cohort,
        generate_patient,
        latent_auc_ceiling,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the cohort (default: a temporary one)"
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--skip-summaries", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_demo_")) if args.out is None else args.out
    results: dict[str, object] = {
        "default_minutes": DEFAULT_MINUTES,
        "default_volumes": DEFAULT_VOLUMES,
    }
    try:
        t0 = time.perf_counter()
        info = generate_cohort(work / "cohort", n_jobs=args.n_jobs)
        results["cohort_seconds"] = round(time.perf_counter() - t0, 1)
        results["cohort_gb"] = round(_size_bytes(info.root) / 1e9, 3)
        results["cohort_n_jobs"] = args.n_jobs
        print(json.dumps(results, indent=2), flush=True)

        t0 = time.perf_counter()
        paper = generate_patient(
            work / "paper", seed=0, participant_id="sub-paper", minutes=9.0, volumes=120
        )
        results["paper_patient_seconds"] = round(time.perf_counter() - t0, 1)
        results["paper_signals_mb"] = round(paper.signals_path.stat().st_size / 1e6, 1)
        results["paper_fmri_mb"] = round(paper.fmri_path.stat().st_size / 1e6, 1)
        print(json.dumps(results, indent=2), flush=True)

        results["monte_carlo_ceiling"] = latent_auc_ceiling(n_draws=200_000, seed=0)
        if not args.skip_summaries:
            t0 = time.perf_counter()
            results["summary_baseline"] = summarise_cohort(info)
            results["summary_seconds"] = round(time.perf_counter() - t0, 1)
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
