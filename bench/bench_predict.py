"""One patient end to end (read, preprocess, predict) against the bare forward passes.

For a paper-scale synthetic patient (9 min of 22-channel EEG-EMG at 1000 Hz,
120 fMRI volumes) this times, on the same tensors:

* reading both files, preprocessing each modality;
* the bare forward passes of the ensemble members (LSTMs on the windows,
  CNNs on the slices) — the models' own compute;
* ``FusionPredictor.predict`` — everything a prediction adds on top.

The default model is the shipped ``weights/shufflenet_lstm`` when present;
``--all`` also builds randomly initialised bundles of the same shape for each
of the five backbones (speed does not depend on the weight values).

Usage::

    python bench/bench_predict.py [--all] [--repeats 3] [--weights weights/shufflenet_lstm]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _random_bundle(backbone: str, out: Path, n_members: int, template) -> Path:
    """A bundle with random weights and the template manifest's settings (for timing only)."""
    from dataclasses import replace

    from rehab_core.models import create_model, fusion_model_id
    from rehab_core.storage import save_bundle

    parts = template.parts
    state = {}
    for f in range(n_members):
        state[f"signal{f}"] = create_model("lstm", **parts.signal.kwargs).state_dict()
        state[f"image{f}"] = create_model(backbone).state_dict()
    manifest = replace(
        template,
        model_id=fusion_model_id(backbone),
        parts=replace(
            parts,
            signal=replace(parts.signal, n_members=n_members),
            image=replace(parts.image, model=backbone, n_members=n_members),
        ),
        created=None,
    )
    return save_bundle(out / manifest.model_id, state, manifest)


def _time_bundle(bundle: Path, patient, repeats: int) -> tuple:
    """Time every stage of one patient's prediction with one bundle (medians)."""
    from rehab_core.imaging import preprocess_fmri
    from rehab_core.io import pick_paper_channels, read_fmri, read_signals
    from rehab_core.prediction import FusionPredictor, member_probabilities
    from rehab_core.signals import preprocess_raw
    from rehab_core.workflows.predict import prepare_inputs

    predictor = FusionPredictor.load(bundle)
    sig_s, img_s = predictor.signal_settings(), predictor.imaging_settings()
    t_read_sig = _median_time(lambda: read_signals(patient.signals_path), repeats)
    t_read_img = _median_time(lambda: read_fmri(patient.fmri_path), repeats)
    raw = pick_paper_channels(read_signals(patient.signals_path))
    img = read_fmri(patient.fmri_path)
    t_pre_sig = _median_time(lambda: preprocess_raw(raw, sig_s), repeats)
    t_pre_img = _median_time(lambda: preprocess_fmri(img, img_s), repeats)
    prepared = prepare_inputs(predictor, patient.signals_path, patient.fmri_path)
    windows, slices = prepared.signals.windows, prepared.fmri.slices
    t_lstm = _median_time(
        lambda: member_probabilities(predictor.signal_models, windows, 32), repeats
    )
    t_cnn = _median_time(lambda: member_probabilities(predictor.image_models, slices, 16), repeats)
    t_predict = _median_time(lambda: predictor.predict(prepared), repeats)
    t_total = _median_time(
        lambda: predictor.predict(
            prepare_inputs(predictor, patient.signals_path, patient.fmri_path)
        ),
        1,
    )
    return (
        predictor.model_id,
        len(predictor.image_models),
        windows.shape,
        slices.shape,
        t_read_sig,
        t_read_img,
        t_pre_sig,
        t_pre_img,
        t_lstm,
        t_cnn,
        t_predict,
        t_total,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=Path("weights/shufflenet_lstm"))
    parser.add_argument("--all", action="store_true", help="time all five backbones")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=9.0)
    parser.add_argument("--volumes", type=int, default=120)
    args = parser.parse_args()

    from rehab_core.demo import generate_patient
    from rehab_core.storage.weights import read_manifest

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        patient = generate_patient(tmp, seed=11, minutes=args.minutes, volumes=args.volumes)
        print(
            f"generated a {args.minutes:g}-min, {args.volumes}-volume patient in "
            f"{time.perf_counter() - t:.1f} s"
        )
        template = read_manifest(args.weights)
        bundles = [args.weights]
        if args.all:
            for backbone in ("fbnet", "ghostnet", "regnet", "resnet50", "shufflenet"):
                bundles.append(
                    _random_bundle(
                        backbone, tmp / "bundles", template.parts.image.n_members, template
                    )
                )
        rows = [_time_bundle(bundle, patient, args.repeats) for bundle in bundles]
        print()
        print(
            "| model | members | windows | slices | read EEG-EMG | read fMRI | preprocess "
            "EEG-EMG | preprocess fMRI | bare LSTMs | bare CNNs | predict() | end to end |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r[0]} | {r[1]} | {tuple(r[2])} | {tuple(r[3])} | "
                + " | ".join(f"{v:.2f} s" for v in r[4:])
                + " |"
            )
        print(
            "\npredict() minus the bare forward passes is what the pipeline adds to the models "
            "(fusion, regressor, bookkeeping)."
        )
        for r in rows:
            overhead = r[10] - r[8] - r[9]
            print(f"{r[0]}: predict() {r[10]:.2f} s = bare {r[8] + r[9]:.2f} s + {overhead:.3f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
