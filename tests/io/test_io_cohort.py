import pytest

from rehab_core.io import InputError
from rehab_core.io.cohort import CohortError, outcome_from_fma, read_cohort


def _cohort(tmp_path, rows, files=None):
    root = tmp_path / "cohort"
    root.mkdir()
    header = "participant_id\tfma_le_baseline\tfma_le_3m\toutcome\n"
    (root / "participants.tsv").write_text(header + "".join("\t".join(r) + "\n" for r in rows))
    for rel in files if files is not None else []:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    return root


def test_reads_patients_labels_and_files(tmp_path):
    root = _cohort(
        tmp_path,
        [("sub-001", "12", "20", "good"), ("sub-002", "8", "17", "poor")],
        [
            "sub-001/eeg/sub-001_task-flexext_eegemg.txt",
            "sub-001/func/sub-001_task-rest_bold.nii.gz",
            "sub-002/func/sub-002_task-rest_bold.nii.gz",
        ],
    )
    cohort = read_cohort(root)
    assert cohort.ids == ["sub-001", "sub-002"]
    assert [p.label for p in cohort.patients] == [1, 0]
    assert cohort.patients[1].signals_path is None
    assert cohort.patients[0].clinical["fma_le_baseline"] == "12"
    summary = cohort.summary()
    assert summary["n_with_both"] == 1 and summary["n_good"] == 1 and summary["n_poor"] == 1


def test_threshold_is_above_17():
    assert outcome_from_fma(17) == 0 and outcome_from_fma(18) == 1


@pytest.mark.parametrize(
    ("rows", "files", "match"),
    [
        (
            [("sub-001", "1", "", "")],
            ["sub-001/func/a_bold.nii"],
            r"gives no 3-month FMA-LE for sub-001",
        ),
        ([("sub-001", "1", "40", "")], ["sub-001/func/a_bold.nii"], r"scale runs from 0 to 34"),
        (
            [("sub-001", "1", "ten", "")],
            ["sub-001/func/a_bold.nii"],
            r"expected a number from 0 to 34",
        ),
        (
            [("sub-001", "1", "10", "good")],
            ["sub-001/func/a_bold.nii"],
            r"disagrees with fma_le_3m",
        ),
        ([("sub-001", "1", "10", "poor")], [], r"has no EEG-EMG or fMRI file for sub-001"),
        (
            [("sub-001", "1", "10", ""), ("sub-001", "1", "10", "")],
            ["sub-001/func/a_bold.nii"],
            r"lists sub-001 twice",
        ),
    ],
)
def test_refusals_are_plain_sentences(tmp_path, rows, files, match):
    root = _cohort(tmp_path, rows, files)
    with pytest.raises(CohortError, match=match) as info:
        read_cohort(root)
    assert isinstance(info.value, InputError)


def test_missing_table_and_folder(tmp_path):
    with pytest.raises(CohortError, match=r"does not exist"):
        read_cohort(tmp_path / "nowhere")
    (tmp_path / "c").mkdir()
    with pytest.raises(CohortError, match=r"has no participants.tsv"):
        read_cohort(tmp_path / "c")


def test_two_recordings_of_one_kind_are_refused(tmp_path):
    root = _cohort(
        tmp_path,
        [("sub-001", "1", "10", "")],
        ["sub-001/func/a_bold.nii", "sub-001/func/b_bold.nii.gz"],
    )
    with pytest.raises(CohortError, match=r"more than one fMRI recording"):
        read_cohort(root)


def test_unlabelled_cohort_allowed_for_prediction(tmp_path):
    root = _cohort(tmp_path, [("sub-001", "1", "", "")], ["sub-001/func/a_bold.nii"])
    cohort = read_cohort(root, require_labels=False)
    assert cohort.patients[0].label is None
