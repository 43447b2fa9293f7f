"""Per-row calibration and decision curves of the paper's tables (TRIPOD+AI).

An AUC says whether a model ranks patients well; a clinician acting on its
probability also needs it to be calibrated (slope 1, intercept 0) and to do
more good than acting on everyone or no one (net benefit, Vickers & Elkin
2006).  :func:`row_diagnostics` computes both for every row of
:func:`rehab_core.evaluation.paper_tables`, on the same patients and the
same bootstrap resamples as the row's metrics; :func:`diagnostics_markdown`
renders them under the tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rehab_core._format import fixed, signed
from rehab_core.evaluation._calibration import calibration_slope_intercept
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities
from rehab_core.evaluation._decision import decision_curve
from rehab_core.evaluation._report import EvaluationSettings, ModelResult

__all__ = ["NET_BENEFIT_THRESHOLDS", "diagnostics_markdown", "row_diagnostics"]

#: Thresholds shown in the Markdown summary of the decision curves (the JSON holds 0.05-0.95).
NET_BENEFIT_THRESHOLDS: tuple[float, ...] = (0.2, 0.3, 0.5, 0.7, 0.8)


def row_diagnostics(
    results: Iterable[ModelResult | Mapping[str, Any]],
    settings: EvaluationSettings | None = None,
) -> list[dict[str, Any]]:
    """Calibration slope and intercept and the decision curve of each row.

    Parameters
    ----------
    results : iterable of ModelResult or dict
        The rows of the tables.
    settings : EvaluationSettings, optional
        ``n_boot``, ``seed``, ``ci``, ``stratify`` of the calibration intervals.

    Returns
    -------
    list of dict
        One per row: ``name``, ``group``, ``n``, ``calibration``
        (:func:`calibration_slope_intercept`) and ``decision_curve``
        (:func:`decision_curve`, thresholds 0.05-0.95: the model, treat all,
        treat none); a row whose patients hold one outcome only has
        ``calibration`` ``None`` and ``reason`` saying so.  JSON-ready.
    """
    settings = EvaluationSettings() if settings is None else settings
    out = []
    for result in results:
        record = ModelResult.from_mapping(result)
        y = as_binary_labels(record.y_true, f"y_true of {record.name}")
        p = as_probabilities(record.p_good, f"p_good of {record.name}")
        entry: dict[str, Any] = {"name": str(record.name), "group": record.group, "n": int(y.size)}
        if y.all() or not y.any():
            entry.update(
                calibration=None,
                decision_curve=None,
                reason="its patients hold one outcome only; calibration and net benefit need both.",
            )
        else:
            entry["calibration"] = calibration_slope_intercept(
                y,
                p,
                n_boot=int(settings.n_boot),
                seed=int(settings.seed),
                ci=settings.ci,
                stratify=settings.stratify,
            )
            entry["decision_curve"] = decision_curve(y, p)
        out.append(entry)
    return out


def _cell(cell: Mapping[str, float], decimals: int) -> str:
    est, low, high = cell["estimate"], cell["low"], cell["high"]
    if est is None or math.isnan(est):
        return "—"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return fixed(est, decimals)
    return f"{fixed(est, decimals)} ({fixed(low, decimals)}–{fixed(high, decimals)})"


def _net_benefit_at(curve: Mapping[str, Any], key: str, threshold: float) -> str:
    thresholds: Sequence[float] = curve["thresholds"]
    k = min(range(len(thresholds)), key=lambda i: abs(thresholds[i] - threshold))
    return signed(curve[key][k], 3)


def diagnostics_markdown(diagnostics: Sequence[Mapping[str, Any]], decimals: int = 2) -> str:
    """The calibration table and a decision-curve summary (net benefit at a few thresholds)."""
    if not diagnostics:
        return ""
    table = {"image": "Table 1", "signal": "Table 2", "fusion": "Table 3"}
    lines = [
        "**Calibration (logistic recalibration on the evaluated patients)**\n",
        "| Table | Method | Patients | Slope (CI) | Intercept (CI) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for d in diagnostics:
        cal = d.get("calibration")
        slope = "—" if cal is None else _cell(cal["slope"], decimals)
        intercept = "—" if cal is None else _cell(cal["intercept"], decimals)
        lines.append(
            f"| {table.get(d['group'], d['group'])} | {d['name']} | {d['n']} | {slope} "
            f"| {intercept} |"
        )
    heads = " | ".join(f"NB at {t:g}" for t in NET_BENEFIT_THRESHOLDS)
    nb = [
        "",
        "**Decision curves: net benefit of acting on P(good) ≥ threshold "
        "(true positives per patient; full curves 0.05-0.95 in evaluation.json)**\n",
        f"| Table | Method | {heads} |",
        "| --- | --- |" + " ---: |" * len(NET_BENEFIT_THRESHOLDS),
    ]
    treat_all: dict[str, dict[str, Any]] = {}
    for d in diagnostics:
        curve = d.get("decision_curve")
        if curve is None:
            continue
        cells = " | ".join(_net_benefit_at(curve, "net_benefit", t) for t in NET_BENEFIT_THRESHOLDS)
        nb.append(f"| {table.get(d['group'], d['group'])} | {d['name']} | {cells} |")
        treat_all.setdefault(d["group"], curve)
    for group, curve in treat_all.items():
        cells = " | ".join(_net_benefit_at(curve, "treat_all", t) for t in NET_BENEFIT_THRESHOLDS)
        nb.append(f"| {table.get(group, group)} | Treat all (first row's patients) | {cells} |")
    nb.append(
        "\nTreat none has net benefit 0 at every threshold. Calibration slope 1 and "
        "intercept 0 mean the probabilities can be taken at face value."
    )
    return "\n".join(lines + nb) + "\n"
