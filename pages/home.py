"""Overview page: what the tool predicts, from what, and how to start."""

import streamlit as st

from pages._shared import require_role

require_role("clinician")
st.title("Lower-limb recovery after ischaemic stroke")
st.markdown(
    """
Predicts whether a patient's **lower-limb Fugl-Meyer score three months after stroke
will be above 17 of 34** (a *good* outcome) from two recordings taken in the first
two weeks:

* synchronised **EEG + EMG** during a hip/knee flexion-extension task
  (16 EEG sites of the 10-20 system and six thigh/hip muscles of the paretic leg);
* **resting-state fMRI**.

The method follows Shi et al. 2025 (*Front. Neurosci.* 19:1616957): an LSTM on 10-s
EEG-EMG windows, an ImageNet-pretrained CNN on fMRI slices, and a late fusion of both
scores with a weight chosen by cross-validation.
"""
)
st.info(
    "Start on the **Patients** page: pick or create a patient (or a synthetic demo patient "
    "in one click) and upload their EEG-EMG recording and rs-fMRI."
)
st.page_link("pages/patients.py", label="Go to Patients", icon=":material/group:")
st.warning(
    "Research software. Not a medical device: predictions must not replace clinical judgement."
)
