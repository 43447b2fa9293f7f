"""Hand-made ``rehab evaluate --json`` reports, the input of ``external_summary``.

Only the fields ``external_summary`` reads: three table rows (fMRI, EEG-EMG,
fusion) with an AUC and the ceiling of what the row sees, and one paired
comparison (fusion − fMRI) with its bootstrap interval.
"""

from __future__ import annotations

from typing import Any


def _entry(name: str, auc: float, ceiling: float, n: int) -> dict[str, Any]:
    return {
        "name": name,
        "n": n,
        "metrics": {"roc_auc": {"estimate": auc}},
        "ceiling": {
            "ceiling_auc": {"estimate": ceiling},
            "fraction": {"estimate": (auc - 0.5) / (ceiling - 0.5)},
        },
    }


def evaluation_report(
    fmri: float,
    lstm: float,
    fused: float,
    *,
    diff_ci: tuple[float, float] | None = None,
    lstm_ceiling: float = 0.9,
    lstm_n: int = 40,
    models: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One cohort's report; ``diff_ci`` defaults to the difference ± 0.1."""
    difference = fused - fmri
    low, high = diff_ci if diff_ci is not None else (difference - 0.1, difference + 0.1)
    report: dict[str, Any] = {
        "tables": {
            "table1": {"evaluations": [_entry("ShuffleNet", fmri, 0.8, 40)]},
            "table2": {"evaluations": [_entry("LSTM", lstm, lstm_ceiling, lstm_n)]},
            "table3": {"evaluations": [_entry("ShuffleNet_LSTM", fused, 0.9, 40)]},
            "paired": {
                "comparisons": [
                    {
                        "a": {"name": "ShuffleNet_LSTM"},
                        "b": {"name": "ShuffleNet"},
                        "family": "fusion vs modality",
                        "n": 40,
                        "bootstrap": {
                            "difference": {"estimate": difference, "low": low, "high": high}
                        },
                    }
                ]
            },
        }
    }
    if models is not None:
        report["models"] = models
    return report
