"""The parts of the training use case, each tested on its own (``tests/workflows/train``).

:func:`rehab_core.workflows.train.train_experiment` is the list of steps; the
steps are here:

work_folder  a resumable run's folder: its identity, the preprocessed arrays, kept members
plan         the development/test split, the folds, early-stopping sets, the size checks
reuse        image members of an earlier bundle of the same split (checked before preprocessing)
ensemble     one member per fold for each model, resumed from checkpoints
fitting      the fusion weight and the FMA-LE regressor on the out-of-fold scores
steps        the ensembles of a plan, then its fusions, comparators and table rows
report       the evaluation tables and ``evaluation.json``
manifest     each fusion model's :class:`~rehab_core.storage.BundleManifest`
"""

from __future__ import annotations

import os


def is_main_process() -> bool:
    """False on the non-zero ranks of a ``torchrun`` launch: only rank 0 writes files."""
    return int(os.environ.get("RANK", "0")) == 0
