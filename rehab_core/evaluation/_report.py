"""Per-model evaluation records: what goes in, what comes out, how it was computed."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rehab_core._config import Settings
from rehab_core._validation import check_int, check_option, check_range
from rehab_core.evaluation._ceiling import ceiling_fraction
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length
from rehab_core.evaluation._metrics import bootstrap_metrics

__all__ = ["GROUPS", "EvaluationSettings", "ModelEvaluation", "ModelResult", "evaluate_model"]

#: Model groups, one per paper table: image = Table 1, signal = Table 2, fusion = Table 3.
GROUPS: tuple[str, ...] = ("image", "signal", "fusion")


@dataclasses.dataclass(frozen=True)
class EvaluationSettings(Settings):
    """How metrics and their intervals are computed (stored beside every report).

    Parameters
    ----------
    n_boot : int
        Bootstrap resamples of patients.
    seed : int
        Bootstrap seed.
    ci : float
        Interval coverage, in (0, 1).
    threshold : float
        Default decision threshold on ``p_good`` (a record may carry its own).
    average : {"binary", "macro"}
        See :func:`rehab_core.evaluation.binary_metrics`.
    stratify : bool
        Resample within each outcome class (see :func:`bootstrap_metrics`).
    decimals : int
        Decimals in the formatted tables.
    """

    n_boot: int = 2000
    seed: int = 0
    ci: float = 0.95
    threshold: float = 0.5
    average: str = "binary"
    stratify: bool = True
    decimals: int = 2

    def __post_init__(self) -> None:
        check_int("n_boot", self.n_boot, low=1)
        check_int("seed", self.seed)
        check_int("decimals", self.decimals)
        check_range("ci", self.ci, 0.0, 1.0)
        check_range("threshold", self.threshold, 0.0, 1.0)
        check_option("average", self.average, ("binary", "macro"))
        check_range("decimals", self.decimals, 0, 6)


@dataclasses.dataclass(frozen=True, eq=False)
class ModelResult:
    """Held-out predictions of one model (input of :func:`evaluate_model`, :func:`paper_tables`).

    Parameters
    ----------
    name : str
        Model name as in the paper, case-insensitive: ``"FBNet"``,
        ``"GhostNet"``, ``"RegNet"``, ``"ShuffleNet"``, ``"ResNet50"``
        (image), ``"LSTM"`` (signal), ``"FBNet_LSTM"`` ... (fusion); in
        every group also ``"Clinical"`` (the clinical comparator) and, in
        fusion, ``"FBNet_LSTM + clinical"`` ... (fusion + clinical).
    group : {"image", "signal", "fusion"}
        Which paper table the model belongs to.
    y_true : array-like of {0, 1}, shape (n_patients,)
        Observed outcome of the evaluated (held-out) patients, 1 = good.
    p_good : array-like of float, shape (n_patients,)
        The model's patient-level probability of a good outcome.
    cv_auc : float or None
        Cross-validated AUC on the training patients, if available.
    threshold : float or None
        Decision threshold of this model (e.g. ``LateFusion.threshold_``);
        ``None`` uses :attr:`EvaluationSettings.threshold`.
    patients : sequence of str or None
        The patient of each score; needed to pair rows evaluated on different
        patients (:func:`rehab_core.evaluation.paired_differences`).
    p_ceiling : array-like of float or None, shape (n_patients,)
        The ground truth's ideal P(good) of these patients for the
        information this row sees (:func:`rehab_core.evaluation.ceiling_column`);
        gives the row its ceiling and chance-corrected fraction of it.
    """

    name: str
    group: str
    y_true: Any
    p_good: Any
    cv_auc: float | None = None
    threshold: float | None = None
    patients: Any = None
    p_ceiling: Any = None

    @classmethod
    def from_mapping(cls, record: Mapping[str, Any] | ModelResult) -> ModelResult:
        """Accept a :class:`ModelResult` or a dict with the same keys."""
        if isinstance(record, cls):
            return record
        if not isinstance(record, Mapping):
            raise TypeError(
                f"Each result must be a ModelResult or a dict, got {type(record).__name__}."
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - fields)
        if unknown:
            raise ValueError(
                f"Result record has unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(fields))}."
            )
        missing = sorted(f for f in ("name", "group", "y_true", "p_good") if f not in record)
        if missing:
            raise ValueError(f"Result record lacks {', '.join(missing)}.")
        return cls(**record)


@dataclasses.dataclass(frozen=True)
class ModelEvaluation:
    """Metrics of one model with bootstrap intervals; :meth:`to_dict` is JSON-ready.

    Attributes
    ----------
    name, group : str
    n, n_positive : int
        Evaluated patients and how many had a good outcome.
    threshold : float
    metrics : dict
        ``{metric: {"estimate", "low", "high"}}`` for the metrics of
        :data:`rehab_core.evaluation.METRIC_NAMES`.
    cv_auc : float or None
    settings : dict
        :meth:`EvaluationSettings.to_dict` of the settings used.
    ceiling : dict or None
        :func:`rehab_core.evaluation.ceiling_fraction` of the row (its
        ceiling AUC and the chance-corrected fraction of it, from the same
        resamples as ``metrics``) when the record had ``p_ceiling``.
    """

    name: str
    group: str
    n: int
    n_positive: int
    threshold: float
    metrics: dict[str, dict[str, float]]
    cv_auc: float | None
    settings: dict[str, Any]
    ceiling: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def evaluate_model(
    result: ModelResult | Mapping[str, Any], settings: EvaluationSettings | None = None
) -> ModelEvaluation:
    """Bootstrap every metric of one model's held-out predictions.

    Parameters
    ----------
    result : ModelResult or dict
        See :class:`ModelResult`.
    settings : EvaluationSettings or None
        Defaults to ``EvaluationSettings()``.

    Returns
    -------
    ModelEvaluation
    """
    settings = EvaluationSettings() if settings is None else settings
    record = ModelResult.from_mapping(result)
    check_option("group", record.group, GROUPS)
    y = as_binary_labels(record.y_true, f"y_true of {record.name}")
    p = as_probabilities(record.p_good, f"p_good of {record.name}")
    check_same_length(y_true=y, p_good=p)
    cv_auc = record.cv_auc
    if cv_auc is not None:
        cv_auc = float(cv_auc)
        if not (math.isnan(cv_auc) or 0.0 <= cv_auc <= 1.0):
            raise ValueError(f"cv_auc={cv_auc!r} of {record.name} must lie between 0 and 1.")
    threshold = settings.threshold if record.threshold is None else float(record.threshold)
    report = bootstrap_metrics(
        y,
        p,
        n_boot=int(settings.n_boot),
        seed=int(settings.seed),
        threshold=threshold,
        ci=settings.ci,
        average=settings.average,
        stratify=settings.stratify,
    )
    ceiling = None
    if record.p_ceiling is not None:
        ceiling = ceiling_fraction(
            y,
            p,
            as_probabilities(record.p_ceiling, f"p_ceiling of {record.name}"),
            n_boot=int(settings.n_boot),
            seed=int(settings.seed),
            ci=settings.ci,
            stratify=settings.stratify,
        )
    return ModelEvaluation(
        name=str(record.name),
        group=record.group,
        n=int(np.asarray(y).size),
        n_positive=int(y.sum()),
        threshold=float(threshold),
        metrics=report["metrics"],
        cv_auc=cv_auc,
        settings=settings.to_dict(),
        ceiling=ceiling,
    )
