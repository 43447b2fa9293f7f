"""Evaluation page: how well the installed models do on patients they never saw.

Reads the weights folder (``REHAB_WEIGHTS_DIR`` or the shipped ``weights/``):
the training run's ``evaluation.json`` gives the paper's Tables 1-3 with
bootstrap intervals and the Bayes-optimal ceiling, the clinical comparators,
paired AUC differences, calibration and net benefit (when the run stored them);
``heldout_evaluation.json`` (``rehab evaluate --json``) gives every held-out
patient's score, from which the ROC and calibration curves are drawn. Everything is cached with
``st.cache_data``, keyed by the files' modification times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from pages._model_card import show_model_card
from pages._shared import require_role
from rehab_core.prediction import default_weights_dir
from rehab_core.report import format_number, model_card, plain_model_name
from rehab_core.report.evaluation import (
    HELDOUT_REPORT,
    TABLES_FILE,
    TRAINING_REPORT,
    curve_source,
    evaluation_curves,
    heldout_command,
    read_evaluation_folder,
)
from rehab_core.storage import WeightsError

_TABLES = ("table1", "table2", "table3")


def _stamp(folder: Path) -> tuple[tuple[str, float], ...]:
    """Modification times of everything read, so a new training run is shown at once."""
    paths = [folder / TRAINING_REPORT, folder / HELDOUT_REPORT, folder / TABLES_FILE]
    paths += sorted(folder.glob("*/manifest.json")) if folder.is_dir() else []
    return tuple((str(p), p.stat().st_mtime) for p in paths if p.is_file())


@st.cache_data(show_spinner=False, max_entries=4)
def _folder(path: str, stamp: tuple) -> dict[str, Any]:
    return read_evaluation_folder(path)


@st.cache_data(show_spinner=False, max_entries=4)
def _curves(path: str, stamp: tuple, source: str) -> dict[str, Any]:
    return evaluation_curves(read_evaluation_folder(path)[source])


def _tables(training: dict[str, Any], markdown: str | None) -> None:
    tables = training.get("tables") or {}
    for key in _TABLES:
        table = tables.get(key)
        if not table:
            continue
        st.markdown(f"**{table['title']}**")
        st.dataframe(
            [{c: row.get(c, "—") for c in table["columns"]} for row in table["rows"]],
            hide_index=True,
            width="stretch",
        )
    if markdown:  # the tables' own footnote: how the intervals were computed
        notes = [p for p in markdown.strip().split("\n\n") if p.startswith("Point estimates")]
        st.caption((notes or markdown.strip().split("\n\n"))[-1])


def _statistics(training: dict[str, Any]) -> None:
    """Clinical comparators, paired differences, calibration and net benefit (when stored)."""
    clinical = training.get("clinical") or {}
    if clinical.get("features"):
        st.caption(
            f"Clinical = logistic regression on {', '.join(clinical['features'])}; "
            f"'<fusion> + clinical' adds the fused probability. Fitted on "
            f"{clinical.get('fitted_on', '—')}. "
            + " ".join((clinical.get("omitted") or {}).values())
        )
    if training.get("ceiling_note"):
        st.caption(f"Ceilings: {training['ceiling_note']}")
    paired = (training.get("tables") or {}).get("paired")
    if paired and paired.get("rows"):
        st.markdown(f"**{paired['title']}**")
        columns = ["Family", *paired["columns"]]
        st.dataframe(
            [{c: row.get(c, "—") for c in columns} for row in paired["rows"]],
            hide_index=True,
            width="stretch",
        )
    diagnostics = [d for d in training.get("diagnostics") or [] if d.get("calibration")]
    if diagnostics:
        st.markdown("**Calibration and net benefit (decision curves)**")
        thresholds = (0.2, 0.3, 0.5, 0.7, 0.8)
        rows = []
        for d in diagnostics:
            cal, curve = d["calibration"], d["decision_curve"]
            row = {
                "Table": {"image": "1", "signal": "2", "fusion": "3"}.get(d["group"], d["group"]),
                "Method": d["name"],
                "Slope": format_number(cal["slope"]["estimate"]),
                "Intercept": format_number(cal["intercept"]["estimate"]),
            }
            for t in thresholds:
                k = min(
                    range(len(curve["thresholds"])), key=lambda i: abs(curve["thresholds"][i] - t)
                )
                row[f"NB {t:g}"] = format_number(curve["net_benefit"][k], ".3f")
                row[f"Treat all {t:g}"] = format_number(curve["treat_all"][k], ".3f")
            rows.append(row)
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption(
            "Net benefit (NB) of acting on P(good) ≥ threshold, in true positives per patient, "
            "beside treating everyone on the same patients; treating no one is 0. Calibration "
            "slope 1 and intercept 0 mean the probabilities can be taken at face value."
        )


def _models(training: dict[str, Any]) -> None:
    rows = []
    for model_id, entry in (training.get("models") or {}).items():
        fma = entry.get("fma") or {}
        rows.append(
            {
                "Model": plain_model_name(model_id),
                "Fusion weight on EEG-EMG": format_number(entry.get("fusion_weight")),
                "FMA-LE MAE (points)": (
                    f"{format_number(fma.get('mae'), '.1f')} "
                    f"({format_number(fma.get('mae_low'), '.1f')}–"
                    f"{format_number(fma.get('mae_high'), '.1f')})"
                ),
                "FMA-LE R²": format_number(fma.get("r2")),
                "Spearman": format_number(fma.get("spearman")),
                "Patients": fma.get("n"),
            }
        )
    if rows:
        st.markdown("**3-month FMA-LE estimate and fusion weight**")
        st.dataframe(rows, hide_index=True, width="stretch")


def _curves_section(folder: Path, info: dict[str, Any], stamp: tuple) -> None:
    from rehab_core.viz import calibration_figure, roc_figure

    st.subheader("ROC and calibration")
    source, stale = curve_source(info)
    command = heldout_command(folder, info["training"])
    if stale and not source:
        st.warning(
            f"{HELDOUT_REPORT} scored {', '.join(stale)} with other weights than those installed; "
            "its curves would describe another model. Write it again with:"
        )
        st.code(command, language="bash")
        return
    if not source:
        st.info(
            "The curves need every held-out patient's score, which this folder does not hold "
            f"yet ({HELDOUT_REPORT}). Write it with:"
        )
        st.code(command, language="bash")
        return
    curves = _curves(str(folder), stamp, source)
    bayes = curves["bayes"]
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            roc_figure(curves["models"], bayes=bayes and bayes["roc"]),
            width="stretch",
            key="evaluation_roc",
        )
    with right:
        st.plotly_chart(
            calibration_figure(curves["models"], bayes=bayes and bayes["calibration"]),
            width="stretch",
            key="evaluation_calibration",
        )
    n = max((c["n"] for c in curves["models"]), default=0)
    st.caption(
        f"{n} held-out patients (the LSTM only those with EEG-EMG); calibration in 5 equal-width "
        "bins, marker area growing with the patients in a bin; ECE = expected calibration error. "
        + (
            f"Dotted: the synthetic generator's own outcome probabilities on the same "
            f"{bayes['n']} patients, the best any model could do."
            if bayes
            else ""
        )
    )
    for sentence in curves["skipped"]:
        st.caption(sentence)


def main() -> None:
    require_role("researcher")
    st.title("Evaluation")
    folder = default_weights_dir()
    stamp = _stamp(folder)
    try:
        info = _folder(str(folder), stamp)
    except (ValueError, WeightsError) as err:
        st.error(str(err))
        st.stop()
    training = info["training"]
    if info["synthetic"]:
        st.warning(
            "**Synthetic cohort.** These models were trained and tested on simulated patients "
            "(rehab demo-cohort), not on real ones: the numbers show the method at work, not "
            "how it would do in a clinic."
        )
    if training is None:
        st.info(
            f"{folder} holds no {TRAINING_REPORT}: train models with `rehab train --out "
            f"{folder}` to see their evaluation here."
        )
        st.stop()
    ceiling = training.get("bayes_ceiling_auc")
    cols = st.columns(4)
    cols[0].metric("Held-out test patients", training.get("n_eval_patients", "—"))
    cols[1].metric("Development patients", training.get("n_dev_patients", "—"))
    cols[2].metric("Bayes ceiling AUC (test)", format_number(ceiling, missing="—"))
    cols[3].metric(
        "Bayes ceiling AUC (development)",
        format_number(training.get("bayes_ceiling_auc_cv"), missing="—"),
    )
    cohort = training.get("cohort")
    st.caption(
        f"Evaluated on the {training.get('evaluated_on', 'held-out patients')} of "
        f"{f'the cohort {Path(cohort).name}' if cohort else 'the training cohort'}; CV AUC = "
        "cross-validated AUC over the development patients (out-of-fold scores). The "
        "Bayes-optimal ceiling is the AUC of the generator's true outcome probabilities on the "
        "same patients: no model can beat it."
    )
    if cohort:  # a path on the machine that trained the models, not necessarily this one
        with st.expander("Technical details", icon=":material/build:"):
            st.markdown(f"Cohort folder on the machine that trained the models: `{cohort}`")
    _tables(training, info["markdown"])
    _statistics(training)
    _models(training)
    _curves_section(folder, info, stamp)
    st.subheader("Model cards")
    for model_id, manifest in info["manifests"].items():
        with st.expander(f"Model card: {plain_model_name(model_id)}"):
            show_model_card(model_card(manifest, training))


main()
