"""Two trainings of one design compared on the same patients: one choice, judged by data.

A design choice (the LSTM reading log envelopes instead of raw samples, issue 13)
made after looking at one test set is justified only by data it was not chosen
on. :func:`compare_runs` takes the reports of two runs that differ in that one
choice, on the same development cohort (out-of-fold ``evaluation.json``) and on
the same unseen cohorts (``rehab evaluate --json``), and gives per table row each
run's AUC with the ceiling of what the row sees, and the paired AUC difference
(run a − run b, paired bootstrap on the patients both scored) with its interval;
over the unseen cohorts also mean and SD (:func:`seed_summary`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rehab_core._format import signed
from rehab_core.evaluation._external import _row_metrics
from rehab_core.evaluation._paired import paired_bootstrap_auc
from rehab_core.evaluation._repeats import seed_summary

__all__ = ["compare_runs", "compare_runs_markdown"]

_TABLES = ("table1", "table2", "table3")


def _entry(report: Mapping[str, Any], row: str, run: str) -> tuple[str, Mapping[str, Any]]:
    for table in _TABLES:
        for entry in report["tables"][table]["evaluations"]:
            if entry["name"] == row:
                return table, entry
    raise ValueError(f"The report of {run} has no row {row!r}; compare rows both runs have.")


def _scores(report: Mapping[str, Any], row: str, run: str) -> dict[str, tuple[int, float]]:
    """``{patient: (label, p_good)}`` of one row, from the report's ``predictions``."""
    for record in report.get("predictions") or []:
        if record["name"] == row:
            return {
                str(p): (int(y), float(s))
                for p, y, s in zip(
                    record["patients"], record["y_true"], record["p_good"], strict=True
                )
            }
    raise ValueError(
        f"The report of {run} holds no per-patient scores of {row!r}; "
        "use the evaluation.json of rehab train or the --json of rehab evaluate."
    )


def _compare_row(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    row: str,
    names: tuple[str, str],
    cohort: str,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    table, entry_a = _entry(a, row, f"{names[0]} on {cohort}")
    _, entry_b = _entry(b, row, f"{names[1]} on {cohort}")
    scores_a = _scores(a, row, f"{names[0]} on {cohort}")
    scores_b = _scores(b, row, f"{names[1]} on {cohort}")
    both = sorted(set(scores_a) & set(scores_b))
    differ = [p for p in both if scores_a[p][0] != scores_b[p][0]]
    if differ:
        raise ValueError(
            f"{cohort}: {names[0]} and {names[1]} give patient {differ[0]} different outcomes; "
            "compare reports of the same cohort."
        )
    y = np.array([scores_a[p][0] for p in both])
    paired = paired_bootstrap_auc(
        y,
        [scores_a[p][1] for p in both],
        [scores_b[p][1] for p in both],
        n_boot=n_boot,
        seed=seed,
    )
    return {
        "table": table,
        names[0]: _row_metrics(entry_a),
        names[1]: _row_metrics(entry_b),
        "difference": {**paired["difference"], "p_value": paired["p_value"], "n": paired["n"]},
    }


def compare_runs(
    development: tuple[Mapping[str, Any], Mapping[str, Any]] | None,
    external: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]],
    *,
    names: tuple[str, str],
    rows: Sequence[str] = ("LSTM",),
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run a against run b, row by row, out of fold and on each unseen cohort.

    Parameters
    ----------
    development : (report_a, report_b) or None
        The two runs' ``evaluation.json`` on the same development cohort and
        folds (out-of-fold scores).
    external : mapping of cohort name to (report_a, report_b)
        Each unseen cohort scored by both runs (``rehab evaluate --json``).
    names : (str, str)
        What distinguishes the runs, e.g. ``("envelope", "raw")``.
    rows : sequence of str
        Table rows to compare (``"LSTM"``, ``"ShuffleNet_LSTM"``, ...).
    n_boot, seed
        Paired bootstrap of each difference (:func:`paired_bootstrap_auc`).

    Returns
    -------
    dict
        ``names``, ``cohorts`` (the unseen ones, in order) and ``rows``: per
        row ``{"row", "table", "development", "external", "summary",
        "n_cohorts_above_zero", "n_cohorts_below_zero"}``. ``development`` and
        each ``external[cohort]`` hold, per run name, ``roc_auc``,
        ``ceiling_auc`` (the ideal AUC given what the row sees),
        ``fraction_of_ceiling`` and ``n_patients``, and ``difference``
        (a − b: ``estimate``, ``low``, ``high``, ``p_value``, ``n`` patients both
        scored). ``summary`` is :func:`seed_summary` over the unseen cohorts of
        both AUCs, the ceiling and the difference.

    Raises
    ------
    ValueError
        Nothing to compare, two equal names, a row or its per-patient scores
        missing from a report, or the two reports giving a patient different
        outcomes (not the same cohort).
    """
    if development is None and not external:
        raise ValueError("Give the development reports, unseen-cohort reports, or both.")
    a_name, b_name = (str(n) for n in names)
    if a_name == b_name:
        raise ValueError(f"names must tell the two runs apart, got {a_name!r} twice.")
    names = (a_name, b_name)
    out_rows = []
    for row in rows:
        record: dict[str, Any] = {"row": row}
        if development is not None:
            dev = _compare_row(*development, row, names, "the development cohort", n_boot, seed)
            record["table"] = dev.pop("table")
            record["development"] = dev
        per = {}
        for cohort, (a, b) in external.items():
            per[str(cohort)] = _compare_row(a, b, row, names, str(cohort), n_boot, seed)
            record["table"] = per[str(cohort)].pop("table")
        record["external"] = per
        if per:
            record["summary"] = seed_summary(
                {
                    c: {
                        f"{a_name}_auc": v[a_name]["roc_auc"],
                        f"{b_name}_auc": v[b_name]["roc_auc"],
                        "ceiling_auc": v[a_name]["ceiling_auc"],
                        "difference": v["difference"]["estimate"],
                    }
                    for c, v in per.items()
                }
            )
            record["n_cohorts_above_zero"] = sum(v["difference"]["low"] > 0 for v in per.values())
            record["n_cohorts_below_zero"] = sum(v["difference"]["high"] < 0 for v in per.values())
        out_rows.append(record)
    return {
        "names": list(names),
        "cohorts": [str(c) for c in external],
        "rows": out_rows,
        "n_boot": int(n_boot),
        "seed": int(seed),
    }


def _signed(value: float) -> str:
    return signed(value).replace("-", "−")


def _interval(diff: Mapping[str, float]) -> str:
    low, high = (_signed(v) for v in (diff["low"], diff["high"]))
    return f"{_signed(diff['estimate'])} ({low} to {high})"


def compare_runs_markdown(summary: Mapping[str, Any]) -> str:
    """One Markdown table per row: each run's AUC, the row's ceiling, the paired difference."""
    a, b = summary["names"]
    lines = []
    for record in summary["rows"]:
        lines += [
            f"### {record['row']}: {a} vs {b}",
            "",
            f"| | {a} AUC | {b} AUC | {a} − {b} (95% CI) | ceiling AUC | patients |",
            "|---|---|---|---|---|---|",
        ]
        cells = []
        if "development" in record:
            cells.append(("development, out of fold", record["development"]))
        cells += list(record["external"].items())
        for label, v in cells:
            lines.append(
                f"| {label} | {v[a]['roc_auc']:.2f} | {v[b]['roc_auc']:.2f} | "
                f"{_interval(v['difference'])} | {v[a]['ceiling_auc']:.2f} | "
                f"{v['difference']['n']} |"
            )
        if "summary" in record:
            m = record["summary"]["metrics"]

            def pm(key: str, m: Mapping[str, Any] = m) -> str:
                return f"{m[key]['mean']:.2f} ± {m[key]['sd']:.2f}"

            diff = m["difference"]
            lines.append(
                f"| unseen cohorts, mean ± SD | {pm(f'{a}_auc')} | {pm(f'{b}_auc')} | "
                f"{_signed(diff['mean'])} ± {diff['sd']:.2f} "
                f"({record['n_cohorts_above_zero']} above zero, "
                f"{record['n_cohorts_below_zero']} below) | {pm('ceiling_auc')} | |"
            )
        lines.append("")
    return "\n".join(lines)
