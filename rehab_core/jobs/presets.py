"""Training budgets a researcher can pick in one click: the shipped models' and the paper's.

A retrain form has a dozen numbers; two sets of them matter most. One is the
budget the shipped models were trained with, so that a model evaluated but not
shipped (ResNet50's members are too large for the repository) can be trained
on the same terms. The other is the paper's full budget, for a GPU. The first
is read from the default shipped bundle's manifest, so it cannot drift from
what was trained; the second is the package's defaults, which follow the paper
(224-pixel slices, every screened slice, 5 folds, up to 50 epochs, ImageNet
weights) with the paper's raw-sample LSTM input.

Each preset holds only the fields the Retrain form shows, under the names of
:func:`rehab_core.workflows.train.experiment_settings` (``experiment``), of
:class:`~rehab_core.imaging.ImagingSettings` (``imaging``) and the LSTM's
``signal_input``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PRESET_FIELDS",
    "TrainingPreset",
    "evaluated_not_installed",
    "imagenet_start_note",
    "training_presets",
]

#: The experiment fields a preset sets (those the Retrain form has an input for).
PRESET_FIELDS = (
    "n_folds",
    "test_fraction",
    "epochs",
    "patience",
    "signal_epochs",
    "signal_patience",
    "signal_batch_size",
    "image_batch_size",
    "lr",
    "seed",
    "pretrained",
)


@dataclass(frozen=True)
class TrainingPreset:
    """One budget: what it is called, one sentence on it, and its values."""

    name: str
    label: str
    sentence: str
    experiment: dict[str, Any] = field(default_factory=dict)
    imaging: dict[str, Any] = field(default_factory=dict)
    signal_input: str = "envelope"


def _slices_phrase(imaging: dict[str, Any]) -> str:
    band = imaging.get("slice_range_mm")
    step = int(imaging.get("slice_step") or 1)
    if band is None:
        return "every screened slice" if step == 1 else f"every {step}th screened slice"
    low, high = (f"{v:+.0f}" for v in band)
    every = (
        "every slice"
        if step == 1
        else ("every second slice" if step == 2 else f"every {step}th slice")
    )
    return f"{every} from z = {low} to {high} mm"


def _paper_preset() -> TrainingPreset:
    from rehab_core.imaging import ImagingSettings
    from rehab_core.training import ExperimentSettings

    defaults, imaging = ExperimentSettings(), ImagingSettings()
    experiment = {k: getattr(defaults, k) for k in PRESET_FIELDS}
    experiment["signal_epochs"] = experiment["signal_epochs"] or defaults.epochs
    experiment["signal_patience"] = experiment["signal_patience"] or defaults.patience
    chosen = {"image_size": imaging.image_size, "slice_range_mm": None, "slice_step": 1}
    return TrainingPreset(
        name="paper",
        label="The paper's budget (for a GPU)",
        sentence=(
            f"{chosen['image_size']}-pixel slices, {_slices_phrase(chosen)}, "
            f"{experiment['n_folds']} folds, up to {experiment['epochs']} epochs, "
            "ImageNet weights and the LSTM on raw samples, as in Shi et al. 2025 "
            "(press Estimate the time before starting it on a CPU)."
        ),
        experiment=experiment,
        imaging=chosen,
        signal_input="raw",
    )


def _shipped_preset(manifest_path: Path) -> TrainingPreset | None:
    try:
        manifest = json.loads(manifest_path.read_text())
        trained = manifest["training"]["settings"]
        imaging = manifest["preprocessing"]["imaging"]
        signals = manifest["preprocessing"]["signals"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no shipped bundle, or one too old to record its settings
    from rehab_core.training import ExperimentSettings

    defaults = ExperimentSettings()
    experiment = {k: trained.get(k, getattr(defaults, k)) for k in PRESET_FIELDS}
    experiment["signal_epochs"] = experiment["signal_epochs"] or experiment["epochs"]
    experiment["signal_patience"] = experiment["signal_patience"] or experiment["patience"]
    band = imaging.get("slice_range_mm")
    chosen = {
        "image_size": int(imaging.get("image_size", 224)),
        "slice_range_mm": None if band is None else tuple(float(v) for v in band),
        "slice_step": int(imaging.get("slice_step") or 1),
    }
    return TrainingPreset(
        name="shipped",
        label="The shipped models' budget (fits a 2-core CPU)",
        sentence=(
            f"As the installed models were trained: {chosen['image_size']}-pixel slices, "
            f"{_slices_phrase(chosen)}, {experiment['n_folds']} folds, up to "
            f"{experiment['epochs']} epochs for the image models and "
            f"{experiment['signal_epochs']} for the LSTM"
            + ("" if experiment["pretrained"] else ", no ImageNet weights")
            + "."
        ),
        experiment=experiment,
        imaging=chosen,
        signal_input=str(signals.get("representation", "envelope")),
    )


def training_presets(weights_dir: str | Path | None = None) -> list[TrainingPreset]:
    """The shipped models' budget (when the default bundle records it), then the paper's."""
    from rehab_core.models import DEFAULT_MODEL_ID
    from rehab_core.prediction import default_weights_dir

    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    shipped = _shipped_preset(folder / DEFAULT_MODEL_ID / "manifest.json")
    return [p for p in (shipped, _paper_preset()) if p is not None]


def evaluated_not_installed(weights_dir: str | Path | None = None) -> list[str]:
    """Fusion models the shipped evaluation scored whose bundles are not installed.

    ``weights/evaluation.json`` and ``weights/external.json`` name the models
    they scored; a model among them with no ``<model_id>/manifest.json`` beside
    them (ResNet50's bundle is too large to ship) is one a researcher may want
    to train here on the same terms. Sorted model ids.
    """
    from rehab_core.prediction import default_weights_dir

    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    scored: set[str] = set()
    for name in ("evaluation.json", "external.json"):
        try:
            report = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        models = report.get("models") if isinstance(report, dict) else None
        if isinstance(models, dict):
            scored |= {str(m) for m in models}
    return sorted(m for m in scored if not (folder / m / "manifest.json").is_file())


def imagenet_start_note(backbones: list[str] | tuple[str, ...]) -> str | None:
    """What "start from ImageNet weights" would do here, said before the job starts.

    Training looks for each backbone's ImageNet weights in ``REHAB_PRETRAINED_DIR``,
    then in the Hugging Face or torch hub cache, then downloads them; without
    any, that backbone starts from random weights (and the job's status says so
    afterwards). This says it beforehand, without touching the network.

    Returns
    -------
    str or None
        One sentence naming the backbones without weights on this machine, or
        ``None`` when every one has them.
    """
    from rehab_core.models import get_model_info, imagenet_weights_on_this_machine, is_offline

    missing = [b for b in backbones if imagenet_weights_on_this_machine(b) is None]
    if not missing:
        return None
    names = [get_model_info(b).display_name for b in missing]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    folder = "the folder REHAB_PRETRAINED_DIR names (as <name>.safetensors)"
    if is_offline():
        return (
            f"This server works offline and holds no ImageNet weights for {listed}, so "
            f"{'it' if len(names) == 1 else 'they'} would start from random weights: put the "
            f"weights in {folder}, or untick Start from ImageNet weights."
        )
    return (
        f"This server holds no ImageNet weights for {listed}: the job downloads them when it "
        "starts, and if the download fails it starts from random weights (its status then "
        f"says so); to be sure, put the weights in {folder}."
    )
