"""Evaluation page: how well the installed models do on patients they never saw.

Reads the weights folder (``REHAB_WEIGHTS_DIR`` or the shipped ``weights/``):
the training run's ``evaluation.json`` gives the paper's Tables 1-3 with
bootstrap intervals and each row's ceiling, the clinical comparators,
paired AUC differences, calibration and net benefit (when the run stored them),
on its held-out test patients or, without a held-out set, out of fold;
the ROC and calibration curves are drawn from every evaluated patient's score
(``heldout_evaluation.json`` from ``rehab evaluate --json`` when it scored the
installed weights, else the scores ``evaluation.json`` stored). ``external.json``
and ``external.md`` (``rehab external-summary``), when present, give the figures
on unseen cohorts; ``repeated_cv.json`` (``rehab repeated-cv``) how much the
out-of-fold figures move with the split; ``signal_input.json`` (``make
signal-input``) the LSTM on envelopes against the paper's raw samples.
Everything is cached with ``st.cache_data``, keyed by the files' modification
times.
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
    EXTERNAL_MARKDOWN,
    EXTERNAL_REPORT,
    HELDOUT_REPORT,
    REPEATED_CV_REPORT,
    SIGNAL_INPUT_REPORT,
    TABLES_FILE,
    TRAINING_REPORT,
    curve_source,
    evaluation_curves,
    external_command,
    heldout_command,
    is_cross_validated,
    read_evaluation_folder,
    stale_models,
)
from rehab_core.storage import WeightsError

_TABLES = ("table1", "table2", "table3")


def _stamp(folder: Path) -> tuple[tuple[str, float], ...]:
    """Modification times of everything read, so a new training run is shown at once."""
    paths = [folder / TRAINING_REPORT, folder / HELDOUT_REPORT, folder / TABLES_FILE]
    paths += [folder / EXTERNAL_REPORT, folder / EXTERNAL_MARKDOWN]
    paths += [folder / REPEATED_CV_REPORT, folder / SIGNAL_INPUT_REPORT]
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
        # static: nine columns of 'figure (interval)' wrap within the page, where a data grid
        # cut Table 3's last column off at the edge (issue 15)
        st.table(
            [{c: row.get(c, "—") for c in table["columns"]} for row in table["rows"]],
            hide_index=True,
            border="horizontal",
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
        st.table(  # static: every comparison and its p (Holm) column in view, none scrolled off
            [{c: row.get(c, "—") for c in columns} for row in paired["rows"]],
            hide_index=True,
            border="horizontal",
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
        st.table(rows, hide_index=True, border="horizontal")
        st.caption(
            "Net benefit (NB) of acting on P(good) ≥ threshold, in true positives per patient, "
            "beside treating everyone on the same patients; treating no one is 0. Calibration "
            "slope 1 and intercept 0 mean the probabilities can be taken at face value."
        )


def _repeated_section(info: dict[str, Any]) -> None:
    """How much the out-of-fold AUCs move with the split (``rehab repeated-cv``), when stored."""
    from rehab_core.evaluation import repeated_cv_rows

    summary = info.get("repeated_cv")
    if not summary or not summary.get("rows"):
        return
    settings = summary.get("settings") or {}
    st.markdown("**How much the out-of-fold AUC moves with the split (repeated cross-validation)**")
    st.table(repeated_cv_rows(summary), hide_index=True, border="horizontal")
    training = info.get("training") or {}
    same = summary.get("fingerprint_sha256") == training.get("fingerprint_sha256")
    seeds = ", ".join(str(s) for s in summary.get("seeds") or [])
    st.caption(
        f"The same {settings.get('n_folds', 'k')}-fold cross-validation repeated "
        f"{summary.get('n_repeats', len(summary.get('seeds') or []))} times with other folds "
        f"(seeds {seeds}), every model retrained each time: one split of a small cohort is one "
        "draw, and these rows say how far its AUC can move. "
        + (
            "Same cohort as the tables above; repeat r is the training run with seed r."
            if same
            else "Run on another cohort than the tables above, so its figures do not describe "
            "the same patients."
        )
    )


def _signal_input_section(info: dict[str, Any]) -> None:
    """Two runs that differ in the LSTM's input (``make signal-input``), when stored."""
    from rehab_core.evaluation import compare_runs_markdown

    summary = info.get("signal_input")
    if not summary or not summary.get("rows"):
        return
    a, b = summary["names"]
    st.subheader(f"The LSTM's input: {a} or {b}")
    st.markdown(compare_runs_markdown(summary).replace("### ", "#### "))
    st.caption(
        f"Two training runs that differ only in the LSTM's input ({a} − {b}: paired bootstrap "
        "difference on the patients both scored), out of fold and on "
        f"{len(summary.get('cohorts') or [])} unseen cohorts, with the ceiling of what the "
        "row sees."
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
    out_of_fold = source == "training" and is_cross_validated(info["training"])
    patients = "out-of-fold scores" if out_of_fold else "held-out patients"
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            roc_figure(curves["models"], bayes=bayes and bayes["roc"], patients=patients),
            width="stretch",
            key="evaluation_roc",
        )
    with right:
        st.plotly_chart(
            calibration_figure(
                curves["models"], bayes=bayes and bayes["calibration"], patients=patients
            ),
            width="stretch",
            key="evaluation_calibration",
        )
    n = max((c["n"] for c in curves["models"]), default=0)
    scored = "patients scored out of fold" if out_of_fold else "held-out patients"
    st.caption(
        f"{n} {scored} (the LSTM only those with EEG-EMG); calibration in 5 equal-width "
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


def _external_section(folder: Path, info: dict[str, Any]) -> None:
    """Figures on unseen cohorts (``rehab external-summary``), only when the folder has them."""
    from rehab_core.evaluation import external_tables

    external = info.get("external")
    if external is None:
        return
    st.subheader("On unseen cohorts")
    models = external.get("models") or {}
    # a model scored on the unseen cohorts but not installed here (too large to ship) keeps
    # its figures; one installed with other weights than those scored does not
    absent = sorted(m for m in models if m not in info["manifests"])
    stale = [m for m in stale_models(external, info["manifests"]) if m not in absent]
    if stale:
        st.warning(
            f"{EXTERNAL_REPORT} scored {', '.join(stale)} with other weights than those "
            "installed; its figures would describe another model. Score the unseen cohorts "
            "again and write it with:"
        )
        st.code(external_command(folder), language="bash")
        return
    cohorts = external.get("cohorts") or []
    st.caption(
        f"{len(cohorts)} cohorts none of the models learnt from ({', '.join(cohorts)}), each "
        "scored by `rehab evaluate`; mean ± SD across cohorts, then each cohort's own AUC."
    )
    tables = external_tables(external)
    if tables["rows"]:  # static, as Tables 1-3: its 14 rows were scrolled off past the tenth
        st.table(tables["rows"], hide_index=True, border="horizontal")
    if tables["comparisons"]:
        st.markdown(
            "**Paired AUC differences (A − B) on each cohort's patients both models scored**"
        )
        st.table(tables["comparisons"], hide_index=True, border="horizontal")
    if absent:
        st.caption(
            "Scored on these cohorts but not installed here: "
            f"{', '.join(plain_model_name(m) for m in absent)} "
            "(a researcher can train it on the Retrain page)."
        )
    markdown = info.get("external_markdown")
    if markdown:  # the file's own footnote: what the ceiling and the SD mean
        st.caption(markdown.strip().split("\n\n")[-1])
    if not external.get("models"):
        st.caption(
            f"{EXTERNAL_REPORT} does not record which weights it scored, so whether it "
            "describes the installed bundles cannot be checked."
        )


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
    cohort = training.get("cohort")
    named = f"the cohort {Path(cohort).name}" if cohort else "the training cohort"
    if is_cross_validated(training):
        n_folds = (training.get("settings") or {}).get("n_folds", "k")
        cols = st.columns(3)
        cols[0].metric("Patients scored out of fold", training.get("n_eval_patients", "—"))
        cols[1].metric("Development patients", training.get("n_dev_patients", "—"))
        cols[2].metric("Bayes ceiling AUC (out of fold)", format_number(ceiling, missing="—"))
        where = (
            f"Scored out of fold ({n_folds}-fold cross-validation: each patient by the models "
            f"that did not learn from them) on {named}; "
            "there is no held-out test set, so CV AUC and ROC AUC describe the same scores. "
        )
    else:
        cols = st.columns(4)
        cols[0].metric("Held-out test patients", training.get("n_eval_patients", "—"))
        cols[1].metric("Development patients", training.get("n_dev_patients", "—"))
        cols[2].metric("Bayes ceiling AUC (test)", format_number(ceiling, missing="—"))
        cols[3].metric(
            "Bayes ceiling AUC (development)",
            format_number(training.get("bayes_ceiling_auc_cv"), missing="—"),
        )
        where = (
            f"Evaluated on the {training.get('evaluated_on', 'held-out patients')} of "
            f"{named}; CV AUC = cross-validated AUC over "
            "the development patients (out-of-fold scores). "
        )
    st.caption(
        where + "Ceiling AUC is the AUC of the generator's true outcome probabilities, given what "
        "the row sees, on the same patients: no model can beat it."
    )
    if cohort:  # a path on the machine that trained the models, not necessarily this one
        with st.expander("Technical details", icon=":material/build:"):
            st.markdown(f"Cohort folder on the machine that trained the models: `{cohort}`")
    _tables(training, info["markdown"])
    _statistics(training)
    _repeated_section(info)
    _models(training)
    _curves_section(folder, info, stamp)
    _external_section(folder, info)
    _signal_input_section(info)
    st.subheader("Model cards")
    for model_id, manifest in info["manifests"].items():
        with st.expander(f"Model card: {plain_model_name(model_id)}"):
            show_model_card(model_card(manifest, training))


main()
