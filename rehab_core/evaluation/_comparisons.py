"""A table of paired AUC differences between the rows of the paper's tables.

Three families of comparison (issue 13), each on the patients both rows scored:

* ``fusion vs modality``: each fusion model against its own fMRI backbone and
  against the EEG-EMG model (and "fusion + clinical" against its fusion model);
* ``vs clinical``: each model against the clinical comparator of its table;
* ``backbones``: the five fMRI backbones against each other, and the five
  fusion models against each other.

Each row carries the paired bootstrap interval (the same resamples as the
per-model intervals) and DeLong's interval and p-value; p-values are also
Holm-adjusted within each family, since a family holds up to ten tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rehab_core._format import signed
from rehab_core._validation import check_option
from rehab_core.evaluation._ceiling import CLINICAL_MODEL, CLINICAL_SUFFIX
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length
from rehab_core.evaluation._paired import delong_test, paired_bootstrap_auc
from rehab_core.evaluation._report import GROUPS, EvaluationSettings, ModelResult

__all__ = ["COMPARISON_FAMILIES", "default_pairs", "holm_adjust", "paired_differences"]

#: Families of comparison, in the order the table shows them.
COMPARISON_FAMILIES: tuple[str, ...] = ("fusion vs modality", "vs clinical", "backbones")

PAIRED_COLUMNS: tuple[str, ...] = (
    "Comparison",
    "Patients",
    "AUC A",
    "AUC B",
    "Difference (bootstrap CI)",
    "Difference (DeLong CI)",
    "p (DeLong)",
    "p (Holm)",
)

Ref = tuple[str, str]  # (group, name)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN kept as NaN).

    The ``k``-th smallest of ``m`` p-values is multiplied by ``m - k + 1``,
    made non-decreasing and capped at 1; it controls the family-wise error
    rate without assuming independence.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out[order] = adjusted
    return [float(v) for v in out]


def _by_ref(results: Iterable[ModelResult | Mapping[str, Any]]) -> dict[Ref, ModelResult]:
    records: dict[Ref, ModelResult] = {}
    for result in results:
        record = ModelResult.from_mapping(result)
        check_option("group", record.group, GROUPS)
        ref = (record.group, str(record.name))
        if ref in records:
            raise ValueError(f"Model {ref[1]!r} appears twice in group {ref[0]!r}.")
        records[ref] = record
    return records


def default_pairs(results: Iterable[ModelResult | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The comparisons of issue 13 among the rows present, as ``{"a", "b", "family"}``.

    ``a`` and ``b`` are ``(group, name)``; the difference is ``AUC(a) - AUC(b)``.
    Names must already be the tables' canonical names (as :func:`paper_tables`
    writes them, e.g. ``"ShuffleNet_LSTM"``).
    """
    refs = list(_by_ref(results))
    present = set(refs)
    pairs: list[dict[str, Any]] = []

    def add(a: Ref, b: Ref, family: str) -> None:
        if a in present and b in present:
            pairs.append({"a": a, "b": b, "family": family})

    for group, name in refs:  # fusion against what it fuses
        if group == "fusion" and name.endswith("_LSTM"):
            add((group, name), ("image", name.removesuffix("_LSTM")), "fusion vs modality")
            add((group, name), ("signal", "LSTM"), "fusion vs modality")
    for group, name in refs:
        if name.endswith(CLINICAL_SUFFIX):
            add((group, name), (group, name.removesuffix(CLINICAL_SUFFIX)), "fusion vs modality")
    for group, name in refs:  # every model against the clinical comparator of its table
        if name != CLINICAL_MODEL:
            add((group, name), (group, CLINICAL_MODEL), "vs clinical")
    for group in ("image", "fusion"):
        members = [
            r
            for r in refs
            if r[0] == group and r[1] != CLINICAL_MODEL and not r[1].endswith(CLINICAL_SUFFIX)
        ]
        for a, b in itertools.combinations(members, 2):
            add(a, b, "backbones")
    return pairs


def _aligned(a: ModelResult, b: ModelResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Labels and both scores on the patients both rows scored; and how many those are."""
    ya = as_binary_labels(a.y_true, f"y_true of {a.name}")
    yb = as_binary_labels(b.y_true, f"y_true of {b.name}")
    pa = as_probabilities(a.p_good, f"p_good of {a.name}")
    pb = as_probabilities(b.p_good, f"p_good of {b.name}")
    check_same_length(**{f"y_true of {a.name}": ya, f"p_good of {a.name}": pa})
    check_same_length(**{f"y_true of {b.name}": yb, f"p_good of {b.name}": pb})
    if a.patients is None or b.patients is None:
        if a.group != b.group or ya.size != yb.size or (ya != yb).any():
            raise ValueError(
                f"To pair {a.name} ({a.group}) with {b.name} ({b.group}) give both rows their "
                "patients: they were not scored on the same patients in the same order."
            )
        return ya, pa, pb, ya.size
    ids_a, ids_b = [str(i) for i in a.patients], [str(i) for i in b.patients]
    for record, ids, y in ((a, ids_a, ya), (b, ids_b, yb)):
        if len(ids) != y.size or len(set(ids)) != len(ids):
            raise ValueError(
                f"{record.name} ({record.group}) must list each of its {y.size} patients once."
            )
    where_b = {p: k for k, p in enumerate(ids_b)}
    ia = np.array([k for k, p in enumerate(ids_a) if p in where_b], dtype=np.intp)
    ib = np.array([where_b[ids_a[k]] for k in ia], dtype=np.intp)
    if ia.size == 0:
        raise ValueError(f"{a.name} and {b.name} share no patient; they cannot be paired.")
    if (ya[ia] != yb[ib]).any():
        raise ValueError(f"{a.name} and {b.name} give a shared patient different outcomes.")
    return ya[ia], pa[ia], pb[ib], int(ia.size)


def _signed(cell: Mapping[str, float], decimals: int) -> str:
    est, low, high = cell["estimate"], cell["low"], cell["high"]
    if est is None or math.isnan(est):
        return "—"
    if math.isnan(low) or math.isnan(high):
        return signed(est, decimals)
    return f"{signed(est, decimals)} ({signed(low, decimals)} to {signed(high, decimals)})"


def _p(value: float) -> str:
    if value is None or math.isnan(value):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def paired_differences(
    results: Iterable[ModelResult | Mapping[str, Any]],
    pairs: Sequence[Mapping[str, Any]] | None = None,
    settings: EvaluationSettings | None = None,
) -> dict[str, Any]:
    """Paired AUC differences between table rows, with bootstrap and DeLong intervals.

    Parameters
    ----------
    results : iterable of ModelResult or dict
        The rows (as for :func:`rehab_core.evaluation.paper_tables`, with
        canonical names).  Rows of different groups are paired on the
        patients both scored, so they need ``patients``; rows of one group
        without ``patients`` are taken to score the same patients in the
        same order.
    pairs : list of dict, optional
        ``{"a": (group, name), "b": (group, name), "family": str}``; the
        difference is ``AUC(a) - AUC(b)``.  Default: :func:`default_pairs`.
    settings : EvaluationSettings, optional
        ``n_boot``, ``seed``, ``ci``, ``stratify`` of the paired bootstrap
        (the same resamples as the rows' own intervals when both rows
        scored the same patients), ``ci`` of DeLong, ``decimals``.

    Returns
    -------
    table : dict
        ``title``, ``columns`` (:data:`PAIRED_COLUMNS`), ``families`` (the
        families present, in order), ``rows`` (formatted cells plus
        ``"Family"``) and ``comparisons`` (numeric: ``a``, ``b``, ``family``,
        ``n``, ``n_positive``, ``bootstrap`` (:func:`paired_bootstrap_auc`),
        ``delong`` (:func:`delong_test`), ``p_holm``).  JSON-ready.
    """
    settings = EvaluationSettings() if settings is None else settings
    records = _by_ref(list(results))
    pairs = default_pairs(records.values()) if pairs is None else list(pairs)
    comparisons = []
    for pair in pairs:
        a, b = (tuple(pair[k]) for k in ("a", "b"))
        family = pair.get("family", "other")
        for ref in (a, b):
            if ref not in records:
                listed = ", ".join(f"{g}:{n}" for g, n in records)
                raise ValueError(f"No row {ref[1]!r} in group {ref[0]!r}; the rows are {listed}.")
        y, pa, pb, n = _aligned(records[a], records[b])
        boot = paired_bootstrap_auc(
            y,
            pa,
            pb,
            n_boot=settings.n_boot,
            seed=settings.seed,
            ci=settings.ci,
            stratify=settings.stratify,
        )
        comparisons.append(
            {
                "a": {"group": a[0], "name": a[1]},
                "b": {"group": b[0], "name": b[1]},
                "family": str(family),
                "n": n,
                "n_positive": int(y.sum()),
                "bootstrap": boot,
                "delong": delong_test(y, pa, pb, ci=settings.ci),
            }
        )
    families = [f for f in COMPARISON_FAMILIES if any(c["family"] == f for c in comparisons)]
    families += sorted({c["family"] for c in comparisons} - set(families))
    for family in families:
        members = [c for c in comparisons if c["family"] == family]
        for c, adjusted in zip(
            members, holm_adjust([c["delong"]["p_value"] for c in members]), strict=True
        ):
            c["p_holm"] = adjusted
    d = settings.decimals
    rows = [
        {
            "Family": c["family"],
            "Comparison": f"{c['a']['name']} − {c['b']['name']}",
            "Patients": f"{c['n']} ({c['n_positive']} good)",
            "AUC A": f"{c['bootstrap']['auc_a']['estimate']:.{d}f}",
            "AUC B": f"{c['bootstrap']['auc_b']['estimate']:.{d}f}",
            "Difference (bootstrap CI)": _signed(c["bootstrap"]["difference"], d),
            "Difference (DeLong CI)": _signed(c["delong"]["difference"], d),
            "p (DeLong)": _p(c["delong"]["p_value"]),
            "p (Holm)": _p(c["p_holm"]),
        }
        for c in comparisons
    ]
    return {
        "title": "Paired AUC differences (A − B) on the patients both models scored",
        "columns": list(PAIRED_COLUMNS),
        "families": families,
        "rows": rows,
        "comparisons": comparisons,
    }
