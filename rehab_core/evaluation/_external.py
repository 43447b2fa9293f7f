"""Figures over several unseen cohorts: one row per model, mean and SD across cohorts.

One external cohort can mislead (issue 13: 0.82 on one seed, 0.73 on the
next), so external figures are reported over several cohorts the model never
saw, each scored by ``rehab evaluate``. :func:`external_summary` reads those
reports (the JSON of :func:`rehab_core.workflows.evaluate.evaluate_cohort`)
and gives, per table row, the AUC, its ceiling (the generator's ideal AUC
given what the row sees) and the chance-corrected fraction of the ceiling,
each as mean and SD across cohorts (:func:`seed_summary`), plus the paired
AUC differences (fusion vs each modality, each model vs the clinical
baseline) with, per cohort, whether the interval excludes zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rehab_core._format import fixed, signed
from rehab_core.evaluation._repeats import seed_summary

__all__ = ["external_markdown", "external_summary", "external_tables"]

_TABLES = ("table1", "table2", "table3")
_TITLES = {"table1": "fMRI", "table2": "EEG-EMG", "table3": "fusion"}


def _row_metrics(entry: Mapping[str, Any]) -> dict[str, float]:
    ceiling = entry.get("ceiling") or {}
    nan = float("nan")
    return {
        "roc_auc": float(entry["metrics"]["roc_auc"]["estimate"]),
        "ceiling_auc": float((ceiling.get("ceiling_auc") or {}).get("estimate", nan)),
        "fraction_of_ceiling": float((ceiling.get("fraction") or {}).get("estimate", nan)),
        "n_patients": float(entry["n"]),
    }


def _rows(report: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, float]]:
    tables = report["tables"]
    return {(t, e["name"]): _row_metrics(e) for t in _TABLES for e in tables[t]["evaluations"]}


def _comparisons(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for c in report["tables"].get("paired", {}).get("comparisons", []):
        diff = c["bootstrap"]["difference"]
        key = f"{c['a']['name']} − {c['b']['name']}"
        out[key] = {
            "family": c["family"],
            "difference": float(diff["estimate"]),
            "low": float(diff["low"]),
            "high": float(diff["high"]),
            "n": int(c["n"]),
        }
    return out


def _models(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The weights the reports scored, by model id (``{"weights_sha256": ...}``).

    The same bundle must have scored every cohort: a mean over two different
    models describes neither, so other weights on one cohort are refused.
    """
    out: dict[str, dict[str, str]] = {}
    for name, report in reports.items():
        for model_id, entry in (report.get("models") or {}).items():
            sha256 = (entry or {}).get("weights_sha256")
            if sha256 is None:
                continue
            first = out.setdefault(model_id, {"weights_sha256": sha256})["weights_sha256"]
            if first != sha256:
                raise ValueError(
                    f"Cohort {name} was scored with other weights of {model_id} "
                    f"({sha256[:12]}… instead of {first[:12]}…); score every cohort with the "
                    "same bundle."
                )
    return out


def external_summary(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and SD across unseen cohorts of every row and paired comparison.

    Parameters
    ----------
    reports : mapping of cohort name to report
        ``{"seed 1": report, ...}``, each the JSON report of ``rehab evaluate``
        on a cohort none of the bundles learnt from. Rows (and comparisons)
        are summarised when every report has them.

    Returns
    -------
    dict
        ``cohorts`` (names, in order), ``rows``: a list of ``{"table",
        "method", "per_cohort": {name: metrics}, "summary": seed_summary}``
        and ``comparisons``: ``{"comparison", "family", "per_cohort",
        "summary", "n_cohorts_above_zero", "n_cohorts_below_zero"}`` (cohorts
        whose 95% paired-bootstrap interval lies above or below zero), and
        ``models``: ``{model_id: {"weights_sha256"}}`` of the weights the
        reports scored, so a reader can tell whether they are the installed ones.

    Raises
    ------
    ValueError
        No report, a report a bundle learnt from (it scored no patient), or
        reports that scored different weights of one model.
    """
    if not reports:
        raise ValueError("Give at least one evaluation report of an unseen cohort.")
    names = [str(n) for n in reports]
    models = _models(reports)
    per = {str(n): _rows(r) for n, r in reports.items()}
    keys = [k for k in per[names[0]] if all(k in per[n] for n in names)]
    rows = []
    for table, method in keys:
        by = {n: per[n][(table, method)] for n in names}
        rows.append(
            {
                "table": table,
                "modality": _TITLES[table],
                "method": method,
                "per_cohort": by,
                "summary": seed_summary(by),
            }
        )
    comps = {str(n): _comparisons(r) for n, r in reports.items()}
    comparisons = []
    for key in comps[names[0]]:
        if not all(key in comps[n] for n in names):
            continue
        by = {n: comps[n][key] for n in names}
        comparisons.append(
            {
                "comparison": key,
                "family": by[names[0]]["family"],
                "per_cohort": by,
                "summary": seed_summary(
                    {n: {"difference": v["difference"]} for n, v in by.items()}
                ),
                "n_cohorts_above_zero": sum(v["low"] > 0 for v in by.values()),
                "n_cohorts_below_zero": sum(v["high"] < 0 for v in by.values()),
            }
        )
    return {"cohorts": names, "rows": rows, "comparisons": comparisons, "models": models}


def _cell(stats: Mapping[str, Any]) -> str:
    mean, sd = stats["mean"], stats["sd"]
    if mean != mean:
        return "—"
    return f"{fixed(mean)} ± {fixed(sd)}" if sd == sd else fixed(mean)


def external_tables(summary: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The summary as rows of text cells, as a page shows them beside the Markdown.

    Returns
    -------
    dict
        ``rows``: one per table row (``Modality``, ``Method``, ``ROC AUC``,
        ``Ceiling AUC``, ``Fraction of ceiling`` as mean ± SD, then ``AUC
        <cohort>`` per cohort); ``comparisons``: one per paired difference
        (``Comparison``, ``Mean ± SD``, ``<cohort> (95% CI)`` per cohort, ``CI
        above 0`` and ``CI below 0`` as "k of n").
    """
    names = summary["cohorts"]
    rows = []
    for row in summary["rows"]:
        m = row["summary"]["metrics"]
        rows.append(
            {
                "Modality": row["modality"],
                "Method": row["method"],
                "ROC AUC": _cell(m["roc_auc"]),
                "Ceiling AUC": _cell(m["ceiling_auc"]),
                "Fraction of ceiling": _cell(m["fraction_of_ceiling"]),
                **{f"AUC {n}": f"{row['per_cohort'][n]['roc_auc']:.2f}" for n in names},
            }
        )
    comparisons = []
    for c in summary["comparisons"]:
        per = {
            f"{n} (95% CI)": (
                f"{signed(v['difference'])} ({signed(v['low'])} to {signed(v['high'])})"
            )
            for n, v in ((n, c["per_cohort"][n]) for n in names)
        }
        comparisons.append(
            {
                "Comparison": c["comparison"],
                "Mean ± SD": _cell(c["summary"]["metrics"]["difference"]),
                **per,
                "CI above 0": f"{c['n_cohorts_above_zero']} of {len(names)}",
                "CI below 0": f"{c['n_cohorts_below_zero']} of {len(names)}",
            }
        )
    return {"rows": rows, "comparisons": comparisons}


def _markdown_table(rows: list[dict[str, Any]], n_text: int) -> list[str]:
    """Rows of cells as a Markdown table, the first ``n_text`` columns left-aligned."""
    columns = list(rows[0])
    align = ["---" if i < n_text else "---:" for i in range(len(columns))]
    return [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows),
    ]


def external_markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown tables: AUC and ceiling mean ± SD, per-cohort AUCs."""
    names = summary["cohorts"]
    tables = external_tables(summary)
    lines = [
        f"**External evaluation on {len(names)} unseen cohorts (mean ± SD across cohorts)**",
        "",
    ]
    if tables["rows"]:
        lines += _markdown_table(tables["rows"], n_text=2)
    if tables["comparisons"]:
        lines += [
            "",
            "**Paired AUC differences (A − B) on each cohort's patients both models scored**",
            "",
            *_markdown_table(tables["comparisons"], n_text=1),
        ]
    lines += [
        "",
        "Ceiling AUC: AUC of the generator's ideal probability given what the row sees, on the "
        "row's patients; fraction of ceiling = (AUC − 0.5) / (ceiling − 0.5). SD: sample SD "
        "across cohorts, i.e. how far one external cohort's figure can move.",
    ]
    return "\n".join(lines) + "\n"
