"""Predict one patient's outcome with a trained fusion model (a weights bundle).

A bundle written by :func:`rehab_core.workflows.train.train_experiment`
holds ``k`` LSTMs and ``k`` image backbones (one pair per cross-validation
fold), the fitted fusion and the FMA-LE regressor.  For a patient:

* signal score = mean over the LSTMs of the mean window probability (paper);
* image score  = mean over the backbones of the mean slice probability over
  the screened slices;
* probability  = ``w * signal + (1 - w) * image`` with the bundle's
  cross-validated weight ``w``; without EEG-EMG the image score alone, said
  in ``modality``;
* interval     = the 5th-95th percentile of the ``k`` members' fused
  probabilities: the disagreement between models trained on different
  patients (epistemic uncertainty).  It does not include the outcome's own
  randomness, which the probability itself expresses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rehab_core.storage import BundleManifest

__all__ = [
    "FusionPredictor",
    "Prediction",
    "default_weights_dir",
    "member_probabilities",
]

_LOG = logging.getLogger(__name__)


def default_weights_dir() -> Path:
    """The weights shipped with the package (``weights/`` next to ``rehab_core``)."""
    import os

    env = os.environ.get("REHAB_WEIGHTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "weights"


@dataclass
class Prediction:
    """Everything the CLI, the dashboard and the PDF report show for one patient."""

    probability_good: float
    interval: tuple[float, float]
    label: str
    threshold: float
    signal_score: float | None
    image_score: float
    fusion_weight: float
    modality: str
    fma_3m: float
    fma_interval: tuple[float, float]
    model_id: str
    weights_sha256: str
    manifest_sha256: str
    package_version: str
    inputs: dict[str, str]
    window_probabilities: list[float] = field(default_factory=list)
    window_starts_s: list[float] = field(default_factory=list)
    slice_probabilities: list[float] = field(default_factory=list)
    slice_index: list[int] = field(default_factory=list)
    member_probabilities: list[float] = field(default_factory=list)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the keys of ``rehab predict --json``."""
        return {
            "probability_good": self.probability_good,
            "interval": list(self.interval),
            "label": self.label,
            "threshold": self.threshold,
            "signal_score": self.signal_score,
            "image_score": self.image_score,
            "fusion_weight": self.fusion_weight,
            "modality": self.modality,
            "fma_3m": self.fma_3m,
            "fma_interval": list(self.fma_interval),
            "model_id": self.model_id,
            "weights_sha256": self.weights_sha256,
            "manifest_sha256": self.manifest_sha256,
            "package_version": self.package_version,
            "inputs": self.inputs,
            "window_probabilities": self.window_probabilities,
            "window_starts_s": self.window_starts_s,
            "slice_probabilities": self.slice_probabilities,
            "slice_index": self.slice_index,
            "member_probabilities": self.member_probabilities,
            "preprocessing": self.preprocessing,
            "notes": self.notes,
        }


def member_probabilities(models: list, data: np.ndarray, batch_size: int) -> np.ndarray:
    """Item probabilities of every ensemble member, shape ``(n_members, n_items)``."""
    import torch

    n = len(data)
    out = np.empty((len(models), n), dtype=np.float64)
    with torch.inference_mode():
        for j in range(0, n, batch_size):
            # a copy per batch: preprocessed arrays are read-only, torch wants writable memory
            x = torch.from_numpy(np.array(data[j : j + batch_size], dtype=np.float32))
            for i, model in enumerate(models):
                out[i, j : j + batch_size] = torch.sigmoid(model(x))[:, 0].double().numpy()
    return out


class FusionPredictor:
    """A loaded fusion model: ``FusionPredictor.load(path).predict(prepared)``."""

    def __init__(
        self, manifest: BundleManifest, signal_models: list, image_models: list, path: Path
    ) -> None:
        from rehab_core.fusion import FMARegressor, LateFusion

        self.manifest = manifest
        self.path = path
        self.signal_models = signal_models
        self.image_models = image_models
        self.fusion = LateFusion.from_dict(manifest.fusion)
        self.fma = FMARegressor.from_dict(manifest.fma_regressor)

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def image_backbone(self) -> str:
        return self.manifest.parts.image.model

    def signal_settings(self):
        from rehab_core.signals import SignalSettings

        return SignalSettings.from_dict(self.manifest.preprocessing.signals)

    def imaging_settings(self):
        from rehab_core.imaging import ImagingSettings

        return ImagingSettings.from_dict(self.manifest.preprocessing.imaging)

    @classmethod
    def load(cls, path: str | Path) -> FusionPredictor:
        """Load a bundle folder (hash-checked) and build its models on the CPU."""
        from rehab_core.models import create_model
        from rehab_core.storage import load_bundle

        bundle = load_bundle(path)
        manifest = bundle.manifest
        parts = manifest.parts
        signal_models, image_models = [], []
        for f in range(parts.signal.n_members):
            m = create_model(parts.signal.model, **parts.signal.kwargs)
            m.load_state_dict(bundle.part(f"signal{f}"))
            signal_models.append(m.eval())
        for f in range(parts.image.n_members):
            m = create_model(parts.image.model, pretrained=False)
            m.load_state_dict(bundle.part(f"image{f}"))
            image_models.append(m.eval())
        # one line per load: how the load test proves the dashboard loads each model once
        _LOG.info("loaded model bundle %s", Path(path))
        return cls(manifest, signal_models, image_models, Path(path))

    def score_patients(
        self,
        ids: list[str],
        slices: np.ndarray,
        slice_patients: np.ndarray,
        windows: np.ndarray | None,
        window_patients: np.ndarray,
        baseline_fma: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Scores of many patients from stacked arrays (cohort evaluation).

        Returns ``signal`` (NaN without windows), ``image``, ``p_good`` (fused;
        image alone without windows) and ``fma_3m`` (NaN where a needed
        baseline is missing), each of shape ``(len(ids),)``.
        """
        from rehab_core.fusion import predict_fma

        image = np.full(len(ids), np.nan)
        signal = np.full(len(ids), np.nan)
        for i, pid in enumerate(ids):
            idx = np.flatnonzero(slice_patients == pid)
            if len(idx):
                image[i] = member_probabilities(self.image_models, slices[idx], 16).mean()
            if windows is not None:
                idx = np.flatnonzero(window_patients == pid)
                if len(idx):
                    signal[i] = member_probabilities(self.signal_models, windows[idx], 32).mean()
        p_good = self.fusion.predict_proba(signal, image)
        uses_baseline = self.manifest.fma_uses_baseline
        if uses_baseline and baseline_fma is None:
            baseline_fma = np.full(len(ids), np.nan)
        fma = predict_fma(self.fma, p_good, baseline_fma if uses_baseline else None)
        return {"signal": signal, "image": image, "p_good": p_good, "fma_3m": fma}

    def predict(self, prepared, *, baseline_fma: float | None = None) -> Prediction:
        """Predict from a :class:`~rehab_core.pipeline.PreparedPatient`.

        Parameters
        ----------
        prepared : PreparedPatient
            The patient preprocessed with this bundle's settings
            (:func:`rehab_core.workflows.predict.prepare_inputs`); needs the
            fMRI, the EEG-EMG is optional.
        baseline_fma : float | None
            The patient's baseline lower-limb FMA, used by the FMA-LE
            regressor when the bundle was trained with it.
        """
        from rehab_core import __version__

        if prepared.fmri is None:
            raise ValueError("This model needs the patient's resting-state fMRI.")
        notes: list[str] = []
        slice_probs = member_probabilities(self.image_models, prepared.fmri.slices, 16)
        image_members = slice_probs.mean(axis=1)
        image_score = float(image_members.mean())
        signal_score: float | None = None
        window_probs = np.empty((0, 0))
        if prepared.signals is not None and prepared.signals.n_windows > 0:
            expected = self.manifest.parts.signal.kwargs
            windows = prepared.signals.windows
            if windows.shape[1:] != (expected["n_chans"], expected["n_times"]):
                raise ValueError(
                    f"The EEG-EMG windows have shape {windows.shape[1:]} but the model expects "
                    f"({expected['n_chans']}, {expected['n_times']})."
                )
            window_probs = member_probabilities(self.signal_models, windows, 32)
            signal_members = window_probs.mean(axis=1)
            signal_score = float(signal_members.mean())
        else:
            signal_members = np.full(len(self.image_models), np.nan)
            reason = (
                "every EEG-EMG window was rejected"
                if prepared.signals is not None
                else "no EEG-EMG recording was given"
            )
            notes.append(f"Image-only prediction: {reason}, so the fMRI model alone decides.")
        fused_members = self.fusion.predict_proba(signal_members, image_members)
        probability = float(
            self.fusion.predict_proba(
                np.asarray([np.nan if signal_score is None else signal_score]),
                np.asarray([image_score]),
            )[0]
        )
        low, high = (float(v) for v in np.percentile(fused_members, [5, 95]))
        threshold = float(self.fusion.threshold_)
        baseline = None
        if self.manifest.fma_uses_baseline:
            if baseline_fma is None:
                notes.append("The 3-month FMA-LE estimate needs the baseline FMA-LE; none given.")
            else:
                baseline = np.asarray([float(baseline_fma)])
        if self.manifest.fma_uses_baseline and baseline is None:
            fma, fma_lo, fma_hi = float("nan"), float("nan"), float("nan")
        else:
            fma = float(self.fma.predict(np.asarray([probability]), baseline)[0])
            _, lo, hi = self.fma.predict_interval(np.asarray([probability]), baseline)
            fma_lo, fma_hi = float(lo[0]), float(hi[0])
        return Prediction(
            probability_good=probability,
            interval=(min(low, probability), max(high, probability)),
            label="good" if probability >= threshold else "poor",
            threshold=threshold,
            signal_score=signal_score,
            image_score=image_score,
            fusion_weight=float(self.fusion.weight_),
            modality="fusion" if signal_score is not None else "image",
            fma_3m=fma,
            fma_interval=(fma_lo, fma_hi),
            model_id=self.model_id,
            weights_sha256=self.manifest.sha256,
            manifest_sha256=self.manifest.manifest_sha256,
            package_version=__version__,
            inputs=dict(prepared.inputs),
            window_probabilities=window_probs.mean(axis=0).tolist() if window_probs.size else [],
            window_starts_s=(
                [float(s) for s in prepared.signals.window_starts_s]
                if prepared.signals is not None
                else []
            ),
            slice_probabilities=slice_probs.mean(axis=0).tolist(),
            slice_index=[int(i) for i in prepared.fmri.slice_index],
            member_probabilities=[float(v) for v in fused_members],
            preprocessing={
                "signals": self.manifest.preprocessing.signals,
                "imaging": self.manifest.preprocessing.imaging,
            },
            notes=notes,
        )
