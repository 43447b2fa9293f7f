"""Overview page: what the tool predicts, from what, and how to start."""

import streamlit as st

from pages._shared import get_store, require_role
from rehab_core.jobs import model_path
from rehab_core.models import DEFAULT_MODEL_ID
from rehab_core.report import imagenet_phrase, model_card, synthetic_banner
from rehab_core.storage import WeightsError, read_manifest

require_role("clinician")
try:  # what the installed default model is, from its manifest (never assumed)
    card = model_card(read_manifest(model_path(get_store(), DEFAULT_MODEL_ID)))
except WeightsError:
    card = None
cnn = imagenet_phrase(card) if card else "a CNN"
st.title("Lower-limb recovery after ischaemic stroke")
st.markdown(
    """
Predicts whether a patient's **lower-limb Fugl-Meyer score three months after stroke
will be above 17 of 34** (a *good* outcome) from two recordings taken in the first
two weeks:

* synchronised **EEG + EMG** during a hip/knee flexion-extension task
  (16 EEG sites of the 10-20 system and six thigh/hip muscles of the paretic leg);
* **resting-state fMRI**.

One model reads each recording and gives a probability of a good outcome; the two are
combined with a weight learnt from the training patients. With the fMRI alone, its model
decides.
"""
)
with st.expander("Technical details", icon=":material/build:"):
    st.markdown(
        f"The method follows Shi et al. 2025 (*Front. Neurosci.* 19:1616957): an LSTM on 10-s "
        f"EEG-EMG windows, {cnn} on fMRI slices, and a late fusion of both scores with a "
        "weight chosen by cross-validation."
    )
banner = synthetic_banner(card) if card else None
if banner:
    st.warning(banner, icon=":material/science:")
st.info(
    "Start on the **Patients** page: pick or create a patient (or a synthetic demo patient "
    "in one click) and upload their EEG-EMG recording and resting-state fMRI."
)
st.page_link("pages/patients.py", label="Go to Patients", icon=":material/group:")
st.warning(
    "Research software. Not a medical device: predictions must not replace clinical judgement."
)
