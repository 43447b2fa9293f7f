"""Decision curves: net benefit of acting on a model across threshold probabilities.

Vickers & Elkin (2006), Med Decis Making 26:565.  At a threshold probability
``t`` a clinician acts on a patient when the predicted probability is at least
``t``; choosing ``t`` says how many false positives one true positive is
worth (``t / (1 - t)``).  The net benefit in true positives per patient is

``NB(t) = TP / n - FP / n * t / (1 - t)``,

compared with acting on everyone ("treat all":
``prevalence - (1 - prevalence) * t / (1 - t)``) and on no one ("treat none": 0).
"""

from __future__ import annotations

import numpy as np

from rehab_core._validation import check_option
from rehab_core.evaluation._checks import as_binary_labels, as_probabilities, check_same_length

__all__ = ["DEFAULT_THRESHOLDS", "decision_curve"]

#: Threshold probabilities 0.05, 0.06, ..., 0.95.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 + 0.01 * k, 2) for k in range(91))


def decision_curve(
    y_true: object,
    p_good: object,
    *,
    thresholds: object = None,
    positive: str = "good",
) -> dict[str, object]:
    """Net benefit of a model, of treating all and of treating none, across thresholds.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n_patients,)
        Observed outcome, 1 = good.
    p_good : array-like of float, shape (n_patients,)
        Predicted probability of a good outcome.
    thresholds : array-like of float in [0, 1), optional
        Threshold probabilities, increasing; default :data:`DEFAULT_THRESHOLDS`
        (0.05 to 0.95 in steps of 0.01).
    positive : {"good", "poor"}
        The outcome that is acted on.  ``"poor"`` gives the curve for a
        decision aimed at patients expected to recover poorly (for example
        more intensive rehabilitation): the event is a poor outcome and its
        predicted probability ``1 - p_good``.

    Returns
    -------
    curve : dict
        Lists over the thresholds, ready to plot: ``thresholds``,
        ``net_benefit`` (the model: act when the predicted probability of the
        ``positive`` outcome is at least the threshold), ``treat_all``,
        ``treat_none`` (zeros); and ``n``, ``n_events``, ``prevalence``,
        ``positive``.  Net benefit is in true positives per patient.
        JSON-ready.
    """
    y = as_binary_labels(y_true, "y_true")
    p = as_probabilities(p_good, "p_good")
    n = check_same_length(y_true=y, p_good=p)
    check_option("positive", positive, ("good", "poor"))
    t = np.asarray(DEFAULT_THRESHOLDS if thresholds is None else thresholds, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D list, got shape {t.shape}.")
    if not np.isfinite(t).all() or t.min() < 0 or t.max() >= 1:
        raise ValueError(
            "thresholds must lie in [0, 1): at a threshold of 1 no false positive is "
            "acceptable and the net benefit is undefined."
        )
    if (np.diff(t) <= 0).any():
        raise ValueError("thresholds must be strictly increasing.")
    if positive == "poor":
        y, p = ~y, 1.0 - p
    act = p[None, :] >= t[:, None]  # (n_thresholds, n_patients)
    tp = (act & y[None, :]).sum(axis=1)
    fp = (act & ~y[None, :]).sum(axis=1)
    odds = t / (1.0 - t)
    prevalence = float(y.mean())
    net = tp / n - fp / n * odds
    treat_all = prevalence - (1.0 - prevalence) * odds
    return {
        "thresholds": [float(v) for v in t],
        "net_benefit": [float(v) for v in net],
        "treat_all": [float(v) for v in treat_all],
        "treat_none": [0.0] * t.size,
        "n": int(n),
        "n_events": int(y.sum()),
        "prevalence": prevalence,
        "positive": positive,
    }
