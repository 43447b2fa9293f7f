"""UI glue shared by the pages: the store, the selected patient, the loaded model.

The selected patient lives in ``st.session_state["patient_id"]``, a plain key
set with :func:`select_patient` (never a widget key: Streamlit clears a
widget's state when the user changes page, a plain key survives).

The store and models are ``st.cache_resource`` objects shared by every
session; the store is keyed by the environment variables that locate it
(``REHAB_DATABASE_URL``, ``REHAB_DATA_DIR``, ``REHAB_MAX_UPLOAD_MB``), so
changing them (as the tests do) opens another store rather than reusing one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from rehab_core.storage import PatientRecord, RecordNotFound, Store, open_store

if TYPE_CHECKING:
    from rehab_core.prediction import FusionPredictor
    from rehab_core.storage import UploadRecord

__all__ = [
    "PATIENT_KEY",
    "PATIENTS_PAGE",
    "get_store",
    "current_patient",
    "select_patient",
    "require_patient",
    "load_predictor",
    "available_models",
    "page_exists",
    "link_if_page",
    "upload_summary",
]

PATIENT_KEY = "patient_id"
"""Session-state key holding the selected patient's id (an int) or nothing."""
PATIENTS_PAGE = "pages/patients.py"
_APP_ROOT = Path(__file__).resolve().parent.parent


def _close_store(store: Store) -> None:
    store.close()


@st.cache_resource(show_spinner=False, on_release=_close_store)
def _store_for(url: str | None, data_dir: str | None, max_upload_mb: str | None) -> Store:
    # the arguments are the environment's values: they key the cache; open_store reads them
    return open_store(url=url or None, data_dir=data_dir or None)


def get_store() -> Store:
    """The store for the current ``REHAB_*`` environment, opened once per process."""
    env = os.environ.get
    return _store_for(env("REHAB_DATABASE_URL"), env("REHAB_DATA_DIR"), env("REHAB_MAX_UPLOAD_MB"))


def select_patient(patient_id: int | None) -> None:
    """Make ``patient_id`` the selected patient on every page (None: no patient)."""
    if patient_id is None:
        st.session_state.pop(PATIENT_KEY, None)
    else:
        st.session_state[PATIENT_KEY] = int(patient_id)


def current_patient() -> PatientRecord | None:
    """The selected patient, or None (also when the stored id no longer exists)."""
    patient_id = st.session_state.get(PATIENT_KEY)
    if patient_id is None:
        return None
    try:
        return get_store().get_patient(patient_id)
    except RecordNotFound:
        select_patient(None)
        return None


def require_patient() -> PatientRecord:
    """The selected patient; without one, say where to pick one and stop the page."""
    patient = current_patient()
    if patient is None:
        st.info("Pick or create a patient on the Patients page first.")
        link_if_page(PATIENTS_PAGE, "Patients", icon="👤")
        st.stop()
    return patient


@st.cache_resource(show_spinner="Loading the model...")
def _predictor(path: str) -> FusionPredictor:
    from rehab_core.prediction import FusionPredictor

    return FusionPredictor.load(path)


def load_predictor(model_id: str = "shufflenet_lstm") -> FusionPredictor:
    """The bundle ``model_id`` under the weights folder, loaded (hash-checked) once.

    Raises
    ------
    rehab_core.storage.WeightsError
        The bundle is missing or does not match its manifest.
    """
    from rehab_core.prediction import default_weights_dir

    return _predictor(str(default_weights_dir() / model_id))


def available_models() -> list[str]:
    """Model ids (bundle folder names) under the weights folder, sorted."""
    from rehab_core.prediction import default_weights_dir
    from rehab_core.storage import list_bundles

    return [Path(m["path"]).name for m in list_bundles(default_weights_dir())]


def page_exists(page: str) -> bool:
    """Whether a page file exists (``app.py`` routes exactly the page files that exist)."""
    return (_APP_ROOT / page).is_file()


def link_if_page(page: str, label: str, *, icon: str | None = None) -> None:
    """``st.page_link`` to ``page`` if that page exists; nothing otherwise."""
    if page_exists(page):
        st.page_link(page, label=label, icon=icon)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def upload_summary(upload: UploadRecord) -> str:
    """One line on what a stored recording holds, from its QC summary."""
    qc: dict[str, Any] = upload.qc
    if upload.kind == "signals":
        by_type = ", ".join(f"{n} {kind.upper()}" for kind, n in qc["n_channels_by_type"].items())
        text = (
            f"{qc['n_channels']} channels ({by_type}), {qc['sfreq']:g} Hz, {qc['duration_s']:.1f} s"
        )
        missing = qc.get("missing_paper_channels") or []
        text += f"; lacks {_join(missing)}" if missing else "; all 22 model channels present"
    else:
        x, y, z, _ = qc["shape"]
        vx = " x ".join(f"{v:g}" for v in qc["voxel_size_mm"])
        text = (
            f"{x} x {y} x {z} voxels of {vx} mm, {qc['n_volumes']} volumes, "
            f"TR {qc['tr_s']:g} s ({qc['duration_s']:.0f} s)"
        )
    n_warn = len(qc.get("warnings") or [])
    if n_warn:
        text += f"; {n_warn} reader warning{'s' if n_warn > 1 else ''}"
    return text
