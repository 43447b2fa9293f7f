"""Benchmark of the synthetic cohort: generation time, disk size, and what is learnable.

Measures

1. the default cohort (102 patients, 86 with EEG-EMG, the paper's 9 minutes and
   each site's protocol): wall time with ``--n-jobs`` workers and size on disk;
2. one paper-scale patient at the paper's site (9 min of EEG-EMG, 120 volumes):
   time and sizes;
3. the realised AUC of every ceiling in ``ground_truth.tsv`` (fusion, fMRI,
   EEG-EMG, clinical, everything) and the correlations of what the files
   show with the latents;
4. the hand-made summaries of :mod:`rehab_core.demo` computed from the files
   (the fMRI ones in MNI space through each patient's true affine, i.e. an
   oracle registration), fed to a cross-validated logistic regression
   (5-fold, stratified): AUC for the outcome per modality and fused.

Usage::

    python bench/bench_demo.py [--out DIR] [--n-jobs 2] [--keep] [--json results.json]
    python bench/bench_demo.py --from-dir COHORT   # 3-4 on a cohort written before
                                                   # (e.g. by `rehab demo-cohort`)

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


def load_cohort(root: Path):
    """The parts of a written cohort the measurements use, read back from its files."""
    import csv
    from types import SimpleNamespace

    from rehab_core.demo import read_true_transform

    def rows(name: str) -> list[dict[str, str]]:
        with open(root / name, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh, delimiter="\t"))

    def value(text: str):
        if text == "n/a":
            return None
        if text in ("true", "false"):
            return text == "true"
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return text

    truth = {
        r["participant_id"]: {k: value(v) for k, v in r.items()} for r in rows("ground_truth.tsv")
    }
    patients = []
    for row in rows("participants.tsv"):
        pid = row["participant_id"]
        signals = sorted((root / pid / "eeg").glob("*_eegemg.txt"))
        patients.append(
            SimpleNamespace(
                participant={k: value(v) for k, v in row.items()},
                ground_truth=truth[pid],
                signals_path=signals[0] if signals else None,
                fmri_path=next((root / pid / "func").glob("*_bold.nii.gz")),
                scanner_to_mni=read_true_transform(root, pid),
            )
        )
    return SimpleNamespace(root=root, patients=patients)


def _pearson(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.corrcoef(a, b)[0, 1])


def ceilings(info) -> dict[str, float]:
    """Realised AUC of each exact ceiling of ``ground_truth.tsv`` on a generated cohort."""
    from rehab_core.evaluation import roc_auc

    y = np.array([p.participant["outcome"] == "good" for p in info.patients], int)
    sig = np.array([p.signals_path is not None for p in info.patients])
    out = {"n_patients": len(y), "n_with_signals": int(sig.sum()), "n_good": int(y.sum())}
    for key in ("p_good_latents", "p_good_bayes", "p_good_fmri", "p_good_clinical", "p_good_all"):
        p = np.array([q.ground_truth[key] for q in info.patients], float)
        out[f"auc_{key}"] = float(roc_auc(y, p))
    for key in ("p_good_bayes", "p_good_fmri", "p_good_eegemg", "p_good_clinical"):
        p = np.array([q.ground_truth[key] for q in info.patients if q.signals_path], float)
        out[f"auc_{key}_with_signals"] = float(roc_auc(y[sig], p))
    return out


def summarise_cohort(info) -> dict[str, float]:
    """Correlations with the latents and cross-validated AUCs of the hand-made summaries."""
    import nibabel as nib

    from rehab_core.demo import FMRI_FEATURES, SIGNAL_FEATURES, fmri_summary, signal_summary
    from rehab_core.io import read_signals_text

    rows = []
    for p in info.patients:
        side = p.participant["affected_side"]
        img = nib.load(p.fmri_path)
        to_mni = np.asarray(p.scanner_to_mni["affine_fit_scanner_to_mni"]) @ img.affine
        tr = float(img.header.get_zooms()[3])
        f = fmri_summary(np.asarray(img.dataobj), to_mni, tr, affected_side=side)
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
    truth = [p.ground_truth for p, _, _ in rows]
    c = [t["latent_c"] for t in truth]
    n = [t["latent_n"] for t in truth]
    c_sig = [c[i] for i in both]
    n_sig = [n[i] for i in both]
    correlations = {
        "cst_lesion_load_ml_vs_c": _pearson([t["cst_lesion_load_ml"] for t in truth], c),
        "lesion_volume_ml_vs_c": _pearson([t["lesion_volume_ml"] for t in truth], c),
        "lesion_volume_ml_vs_n": _pearson([t["lesion_volume_ml"] for t in truth], n),
        "motor_coupling_vs_n": _pearson([t["motor_coupling"] for t in truth], n),
        "motor_alff_ratio_vs_n": _pearson([t["motor_alff_ratio"] for t in truth], n),
        "fma_le_baseline_vs_c": _pearson([p.participant["fma_le_baseline"] for p, _, _ in rows], c),
    }
    for key in FMRI_FEATURES:
        correlations[f"file_{key}_vs_n"] = _pearson(x_img[:, FMRI_FEATURES.index(key)], n)
    for key in SIGNAL_FEATURES:
        column = x_sig[:, SIGNAL_FEATURES.index(key)]
        correlations[f"file_{key}_vs_c"] = _pearson(column, c_sig)
        correlations[f"file_{key}_vs_n"] = _pearson(column, n_sig)
    return {
        "correlations": correlations,
        "cv_auc_fmri_summary_all": _cv_auc(x_img, y_all),
        "cv_auc_signal_summary": _cv_auc(x_sig, y_sig),
        "cv_auc_fmri_summary_with_signals": _cv_auc(x_img[both], y_sig),
        "cv_auc_fused_summary_with_signals": _cv_auc(np.hstack([x_sig, x_img[both]]), y_sig),
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
    parser.add_argument(
        "--from-dir", type=Path, default=None, help="measure a cohort written before (3-4 only)"
    )
    args = parser.parse_args()

    if args.from_dir is not None:
        info = load_cohort(args.from_dir)
        results = {"cohort": str(args.from_dir), "realised_ceilings": ceilings(info)}
        print(json.dumps(results, indent=2), flush=True)
        if not args.skip_summaries:
            t0 = time.perf_counter()
            results["summary_baseline"] = summarise_cohort(info)
            results["summary_seconds"] = round(time.perf_counter() - t0, 1)
        text = json.dumps(results, indent=2)
        print(text)
        if args.json is not None:
            args.json.write_text(text + "\n", encoding="utf-8")
        return

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
            work / "paper", seed=0, participant_id="sub-paper", minutes=9.0, site="A"
        )
        results["paper_patient_seconds"] = round(time.perf_counter() - t0, 1)
        results["paper_signals_mb"] = round(paper.signals_path.stat().st_size / 1e6, 1)
        results["paper_fmri_mb"] = round(paper.fmri_path.stat().st_size / 1e6, 1)
        print(json.dumps(results, indent=2), flush=True)

        results["monte_carlo_ceiling"] = latent_auc_ceiling(n_draws=200_000, seed=0)
        results["realised_ceilings"] = ceilings(info)
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
