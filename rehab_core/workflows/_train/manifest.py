"""Each trained fusion model's :class:`~rehab_core.storage.BundleManifest`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunFacts", "build_manifest"]

TASK = "P(3-month lower-limb FMA > 17/34) after ischaemic stroke"


@dataclass(frozen=True)
class RunFacts:
    """What every bundle of one training run records about its data and settings."""

    cohort_dir: Path
    description: str | None
    trained_on: str  # "synthetic" or "real"
    fingerprint: str
    development_inputs_sha256: tuple[str, ...]
    settings: Any  # ExperimentSettings
    signal_settings: Any
    imaging_settings: Any
    device: str
    plan: Any  # SplitPlan


def build_manifest(
    run: RunFacts,
    backbone: str,
    *,
    lstm: Any,
    image: Any,
    lstm_kwargs: dict[str, Any],
    fit: Any,
    reused_from: dict[str, Any] | None,
    metrics: Any,
) -> Any:
    """The manifest of ``<backbone>_lstm``: parts, fitted fusion, settings, data, metrics.

    Parameters
    ----------
    run : RunFacts
    backbone : str
    lstm, image : Ensemble
        The trained (or reused) members; their histories and ImageNet source.
    lstm_kwargs : dict
        How the LSTM members are built (``n_chans``, ``n_times``, ``sfreq``).
    fit : FusionFit
    reused_from : dict or None
        Where the image members came from (``ReusableImageMembers.record``).
    metrics : Metrics
    """
    from rehab_core import __version__
    from rehab_core.models import fusion_model_id, get_model_info
    from rehab_core.storage.manifest import (
        BundleManifest,
        ImagePart,
        Parts,
        Preprocessing,
        SignalPart,
        Split,
        TrainingData,
        TrainingRecord,
    )

    info = get_model_info(backbone)
    plan = run.plan
    return BundleManifest(
        model_id=fusion_model_id(backbone),
        display_name=f"{info.display_name}_LSTM",
        version=__version__,
        task=TASK,
        parts=Parts(
            signal=SignalPart(model="lstm", kwargs=lstm_kwargs, n_members=len(plan.folds)),
            image=ImagePart(
                model=backbone,
                architecture=info.architecture,
                n_members=len(plan.folds),
                imagenet_pretrained=image.pretrained_source is not None,
                pretrained_source=image.pretrained_source,
            ),
        ),
        fusion=fit.fusion.to_dict(),
        fma_regressor=fit.fma.to_dict(),
        fma_uses_baseline=fit.uses_baseline,
        preprocessing=Preprocessing(
            signals=run.signal_settings.to_dict(), imaging=run.imaging_settings.to_dict()
        ),
        training=TrainingRecord(
            settings=run.settings.to_dict(),
            device=run.device,
            histories={"signal": lstm.histories, "image": image.histories},
            image_members_from=reused_from,
        ),
        data=TrainingData(
            description=run.description or f"cohort at {run.cohort_dir.name}",
            trained_on=run.trained_on,
            fingerprint_sha256=run.fingerprint,
            # every input file a model of this bundle learnt from (or early-stopped on):
            # evaluation never counts a patient whose file is in this list
            development_inputs_sha256=run.development_inputs_sha256,
            n_patients=int(len(plan.ids)),
            split=Split(
                development=tuple(str(p) for p in plan.dev_ids),
                test=tuple(str(p) for p in plan.test_ids),
                n_folds=len(plan.folds),
            ),
        ),
        metrics=metrics,
    )
