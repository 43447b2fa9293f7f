"""Display order and labels of channels (rehab_core.io.channels.montage_order, channel_label)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from rehab_core.io import (
    EMG_MUSCLES,
    PAPER_CHANNELS,
    PAPER_EEG_CHANNELS,
    PAPER_EMG_CHANNELS,
    ChannelNamesError,
    apply_channel_map,
    channel_label,
    check_model_channels,
    montage_order,
    unmapped_channels,
)
from rehab_core.io.channels import _eeg_position


def test_the_paper_channels_read_front_to_back_left_to_right_then_the_leg_muscles():
    assert montage_order(PAPER_CHANNELS) == [
        "F3", "F4",
        "FC5", "FC1", "FC2", "FC6",
        "C3", "C1", "C2", "C4",
        "CP5", "CP1", "CP2", "CP6",
        "P3", "P4",
        # front of the thigh, then the back, each from hip to knee
        "EMG_RFP", "EMG_RF", "EMG_VM", "EMG_GMAX", "EMG_BFL", "EMG_ST",
    ]  # fmt: skip


def test_a_32_channel_10_20_cap_with_arm_emg_in_any_order():
    # the order of the real recording in shared/data (32 EEG + emg1-emg8), shuffled
    names = (
        "P7 P4 Cz Pz P3 P8 O1 O2 T8 F8 C4 F4 Fp2 Fz C3 F3 Fp1 T7 F7 Oz PO4 FC6 FC2 AF4 CP6 "
        "CP2 CP1 CP5 FC1 FC5 AF3 PO3 emg1 emg2 emg3 emg4 emg5 emg6 emg7 emg8"
    ).split()
    expected = (
        "Fp1 Fp2 AF3 AF4 F7 F3 Fz F4 F8 FC5 FC1 FC2 FC6 T7 C3 Cz C4 T8 CP5 CP1 CP2 CP6 "
        "P7 P3 Pz P4 P8 PO3 PO4 O1 Oz O2 emg1 emg2 emg3 emg4 emg5 emg6 emg7 emg8"
    ).split()
    shuffled = names[:]
    random.Random(0).shuffle(shuffled)
    assert montage_order(names) == expected
    assert montage_order(shuffled) == expected


def test_unknown_names_come_last_in_their_own_order_and_case_is_kept():
    names = ["STIM", "fz", "EMG_st", "ECG", "emg10", "Status", "fp1", "emg2", "EMG_RF", "x1"]
    assert montage_order(names) == [
        "fp1", "fz", "EMG_RF", "EMG_st", "emg2", "emg10", "STIM", "ECG", "Status", "x1",
    ]  # fmt: skip


def test_types_override_the_name():
    # a muscle channel named like an EEG site, and an EEG-looking name typed misc
    names = ["C3", "RF", "Cz", "F3"]
    types = ["eeg", "emg", "eeg", "misc"]
    assert montage_order(names, types) == ["C3", "Cz", "RF", "F3"]
    with pytest.raises(ValueError, match="3 channel types were given for 4 names"):
        montage_order(names, types[:3])


def test_10_05_half_positions_and_old_temporal_names_sit_where_they_belong():
    assert montage_order(["FFC2h", "FFC1h", "FCz", "Fz", "FFC3h"]) == [
        "Fz", "FFC3h", "FFC1h", "FFC2h", "FCz",
    ]  # fmt: skip
    # T3/T4 are T7/T8 on the central line, T5/T6 are P7/P8 on the parietal line
    old = ["T6", "P3", "T4", "C3", "T3", "T5"]
    assert montage_order(old) == ["T3", "C3", "T4", "T5", "P3", "T6"]


def test_every_standard_1005_name_has_a_place_and_the_grid_is_consistent():
    import mne

    from rehab_core.io.channels import standard_1005_montage_name

    montage = mne.channels.make_standard_montage(standard_1005_montage_name())
    positions = montage.get_positions()["ch_pos"]
    for name in montage.ch_names:
        assert _eeg_position(name) is not None, name
    # rows run front to back: along the midline, over the top of the head from the nasion
    # to the inion, the angle from the front grows row by row
    midline = [n for n in montage.ch_names if n.endswith("z")]
    by_row = sorted(midline, key=lambda n: _eeg_position(n)[0])
    angles = [np.arctan2(-positions[n][1], positions[n][2]) for n in by_row]  # from the vertex
    assert len(by_row) > 15 and angles == sorted(angles)
    # columns run left to right: along the central row, from the left ear over the vertex
    # to the right ear, the angle from the vertex grows column by column
    central = [n for n in montage.ch_names if _eeg_position(n)[0] == _eeg_position("C3")[0]]
    by_column = sorted(central, key=lambda n: _eeg_position(n)[1])
    angles = [np.arctan2(positions[n][0], positions[n][2]) for n in by_column]
    assert by_column[0] == "T9" and by_column[-1] == "T10" and angles == sorted(angles)


def test_channel_label_names_the_paper_muscles():
    assert [channel_label(c) for c in PAPER_EMG_CHANNELS] == [
        "rectus femoris",
        "vastus medialis",
        "biceps femoris (long head)",
        "gluteus maximus",
        "semitendinosus",
        "proximal rectus femoris",
    ]
    assert channel_label("emg_gmax") == EMG_MUSCLES["EMG_GMAX"]
    assert channel_label("C3") == "C3" and channel_label("emg1") == "emg1"


# ---------------------------------------------------------------- check_model_channels


def test_a_recording_with_the_22_channels_is_usable_in_any_case_and_order():
    names = [c.lower() for c in reversed(PAPER_CHANNELS)] + ["Extra"]
    check = check_model_channels(names)
    assert check.usable and check.reason() == ""
    assert check.missing_eeg == () and check.missing_emg == () and check.other_emg == ()
    assert check.note().startswith("The model can use this recording")


def test_arm_emg_and_missing_sites_are_said_in_words_not_codes():
    eeg = [c for c in PAPER_EEG_CHANNELS if c not in {"C2", "C1"}] + ["Fz", "Oz"]
    emg = [f"emg{k}" for k in (10, 2, 1)]
    check = check_model_channels(eeg + emg, ["eeg"] * len(eeg) + ["emg"] * 3)
    assert not check.usable
    assert check.missing_eeg == ("C2", "C1") and check.missing_emg == PAPER_EMG_CHANNELS
    assert check.other_emg == ("emg1", "emg2", "emg10")
    assert check.reason() == (
        "The model cannot use this EEG-EMG recording: it lacks the paper's EEG channels C2 "
        "and C1 and all six leg muscles the model reads (proximal rectus femoris, rectus "
        "femoris, vastus medialis, gluteus maximus, biceps femoris (long head) and "
        "semitendinosus); its 3 EMG channels (emg1, emg2 and emg10) are not leg muscles the "
        "model knows."
    )
    assert check.note().startswith("This recording can be viewed")
    assert "the model cannot use this EEG-EMG recording" in check.note()
    assert "EMG_" not in check.note()


def test_one_missing_muscle_is_named():
    names = [c for c in PAPER_CHANNELS if c != "EMG_BFL"]
    check = check_model_channels(names)
    assert check.missing_eeg == () and check.missing_emg == ("EMG_BFL",)
    assert check.reason() == (
        "The model cannot use this EEG-EMG recording: it lacks the leg EMG of the biceps "
        "femoris (long head)."
    )


@pytest.mark.parametrize("code", PAPER_EMG_CHANNELS)
def test_every_model_muscle_has_a_name_in_words(code):
    assert channel_label(code) == EMG_MUSCLES[code]
    assert channel_label(code.lower()) == EMG_MUSCLES[code]
    assert not EMG_MUSCLES[code].upper().startswith("EMG")


# ---------------------------------------------------------------- the user's channel map
def test_a_channel_map_renames_the_recordings_own_names_in_place():
    names = ["Fz", "RF", "Rectus_femoris_L", "C3", "emg1"]
    mapped = apply_channel_map(names, {"RF": "emg_rf", "Rectus_femoris_L": "EMG_RFP"})
    assert mapped == ["Fz", "EMG_RF", "EMG_RFP", "C3", "emg1"]  # the paper's spelling
    assert names == ["Fz", "RF", "Rectus_femoris_L", "C3", "emg1"]  # not modified
    assert apply_channel_map(names, {}) == names
    assert unmapped_channels(names) == ["Fz", "RF", "Rectus_femoris_L", "emg1"]
    # a map that supplies what was missing makes the recording usable
    full = [c for c in PAPER_CHANNELS if c != "EMG_ST"] + ["ST_L"]
    assert not check_model_channels(full).usable
    assert check_model_channels(apply_channel_map(full, {"ST_L": "EMG_ST"})).usable


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"XX": "EMG_RF"}, "The channel map names XX, but this recording has no such channel."),
        (
            {"RF": "Cz"},
            "RF is mapped to Cz, which is not one of the model's channels; they are "
            + ", ".join(PAPER_CHANNELS)
            + ".",
        ),
        (
            {"rf": "EMG_RF"},
            "The channel map names rf, but this recording has no such channel (did you mean RF?).",
        ),
        (
            {"RF": "EMG_RF", "emg1": "EMG_RF"},
            "RF and emg1 are both mapped to rectus femoris; keep one of them.",
        ),
        (
            {"RF": "C3"},
            "RF is mapped to C3, which this recording already has; map it to a channel the "
            "recording lacks.",
        ),
    ],
)
def test_a_channel_map_that_cannot_hold_is_refused_in_one_sentence(mapping, message):
    with pytest.raises(ChannelNamesError, match=f"^{re.escape(message)}$"):
        apply_channel_map(["Fz", "RF", "C3", "emg1"], mapping)
