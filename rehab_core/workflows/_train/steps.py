"""The two middle steps of a training run, shared by ``rehab train`` and ``rehab repeated-cv``.

:func:`train_ensembles` trains the LSTM and each image backbone over a plan's
folds; :func:`fit_and_tabulate` fits each backbone's fusion and the clinical
comparators on the same folds and collects the rows of the paper's tables.
"""

from __future__ import annotations

from rehab_core.workflows._train.ensemble import ModelSpec, train_ensemble
from rehab_core.workflows._train.fitting import FusionFit, fit_fusion
from rehab_core.workflows._train.report import EvaluationRows

__all__ = ["fit_and_tabulate", "train_ensembles"]


def train_ensembles(
    arrays, plan, targets, settings, device, work, reused, progress, folds=None, backbones=None
):
    """The LSTM ensemble and one image ensemble per backbone (only ``folds``' members if given).

    ``backbones`` defaults to ``settings.backbones``; ``()`` trains the LSTM only.
    """
    n_chans, n_times = arrays.windows.shape[1:]
    lstm_kwargs = {"n_chans": int(n_chans), "n_times": int(n_times), "sfreq": arrays.signal_sfreq}
    common = dict(device=device, work=work, reused=reused, progress=progress, folds=folds)
    signal = ModelSpec(
        "signal",
        "lstm",
        arrays.windows,
        arrays.window_patients,
        settings.signal_batch_size,
        lstm_kwargs,
    )
    lstm = train_ensemble(signal, plan, targets.labels, settings, **common)
    images = {}
    for backbone in settings.backbones if backbones is None else backbones:
        spec = ModelSpec(
            "image",
            backbone,
            arrays.slices,
            arrays.slice_patients,
            settings.image_batch_size,
            {"pretrained": settings.pretrained},
        )
        images[backbone] = train_ensemble(spec, plan, targets.labels, settings, **common)
    return lstm, lstm_kwargs, images


def fit_and_tabulate(lstm, images, plan, targets, settings, clinical=None):
    """Each backbone's fusion and FMA-LE regressor, and the rows of the paper's tables.

    ``clinical`` (:func:`clinical_inputs` of the cohort) adds the clinical comparators'
    rows, fitted on the same development folds.
    """
    from rehab_core.models import get_model_info

    rows = EvaluationRows(plan, targets)
    signal_eval = rows.add_signal(lstm)
    fits: dict[str, FusionFit] = {}
    for backbone, image in images.items():
        fits[backbone] = fit_fusion(
            lstm.oof_scores(plan.dev_ids),
            image.oof_scores(plan.dev_ids),
            signal_eval,
            rows.image_scores(image),
            plan=plan,
            targets=targets,
            seed=settings.seed,
        )
        rows.add_backbone(get_model_info(backbone).display_name, image, fits[backbone])
    if clinical is not None:
        rows.add_clinical(clinical)
    return rows, fits
