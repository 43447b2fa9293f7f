"""Image members of an earlier bundle, reused instead of retrained (``--reuse-image-members``).

On a CPU a change of the EEG-EMG preprocessing then costs minutes, not hours:
only the LSTM, the fusion weight and the FMA-LE regressor are fitted again.
Reuse is refused, in one sentence, when anything the image members depend on
differs. What does not depend on the preprocessed cohort (the bundles exist
and are intact, the folds and seed, the fMRI preprocessing) is checked by
:meth:`ReusableImageMembers.check` *before* the cohort is preprocessed, so a
refused run costs nothing; the cohort and the split are checked once the
cohort's files are hashed (:meth:`ReusableImageMembers.check_split`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ReusableImageMembers"]


@dataclass(frozen=True)
class _Source:
    path: Path
    bundle: Any  # rehab_core.storage.Bundle


class ReusableImageMembers:
    """Per backbone, the image members of an earlier bundle of the same split.

    Use :meth:`check` to build one; an empty instance (``ReusableImageMembers({})``)
    reuses nothing.
    """

    def __init__(self, sources: dict[str, _Source]) -> None:
        self._sources = sources

    @classmethod
    def check(
        cls,
        folder: str | Path | None,
        settings: Any,
        imaging: dict[str, Any],
        participants: set[str],
    ) -> ReusableImageMembers:
        """Load and check the bundles of ``folder`` (``<backbone>_lstm/``) before preprocessing.

        ``participants`` are the cohort's participant ids: a bundle that
        learnt from others was trained on another cohort.

        Raises ``ValueError`` (one sentence) when a bundle is missing, or was
        trained with other folds, other fMRI settings or on patients this
        cohort does not have; ``WeightsError`` when it is damaged.
        """
        from rehab_core.models import fusion_model_id
        from rehab_core.storage import load_bundle
        from rehab_core.storage.weights import MANIFEST_FILE

        if folder is None:
            return cls({})
        sources = {}
        for backbone in settings.backbones:
            path = Path(folder) / fusion_model_id(backbone)
            if not (path / MANIFEST_FILE).is_file():
                raise ValueError(f"{path} holds no bundle to reuse the {backbone} members from.")
            bundle = load_bundle(path)
            m = bundle.manifest
            trained = m.training.settings
            split = m.data.split
            checks = {
                "the cohort": set(split.development) | set(split.test) <= participants,
                "the folds": (trained["n_folds"], trained["seed"])
                == (settings.n_folds, settings.seed),
                "the fMRI preprocessing": m.preprocessing.imaging == imaging,
            }
            _refuse_if_differs(path, checks)
            sources[backbone] = _Source(path, bundle)
        return cls(sources)

    def check_split(self, fingerprint: str, dev_ids: np.ndarray, test_ids: np.ndarray) -> None:
        """Refuse (``ValueError``) bundles trained on another cohort or another split."""
        for source in self._sources.values():
            m = source.bundle.manifest
            checks = {
                "the cohort": m.data.fingerprint_sha256 == fingerprint,
                "the development/test split": (
                    list(m.data.split.development) == [str(p) for p in dev_ids]
                    and list(m.data.split.test) == [str(p) for p in test_ids]
                ),
            }
            _refuse_if_differs(source.path, checks)

    def __contains__(self, backbone: str) -> bool:
        return backbone in self._sources

    def load(self, backbone: str, fold: int) -> tuple[Any, dict[str, Any]]:
        """``(model, history)`` of one reused member, in eval mode on the CPU."""
        from rehab_core.models import create_model

        source = self._sources[backbone]
        m = source.bundle.manifest
        model = create_model(backbone, pretrained=False)
        model.load_state_dict(source.bundle.part(f"image{fold}"))
        model.pretrained_source = m.parts.image.pretrained_source
        return model.eval(), m.training.histories["image"][fold]

    def record(self, backbone: str) -> dict[str, Any] | None:
        """Where a backbone's members came from, for its manifest (None: trained here)."""
        source = self._sources.get(backbone)
        if source is None:
            return None
        m = source.bundle.manifest
        return {
            "bundle": str(source.path),
            "manifest_sha256": m.manifest_sha256,
            "weights_sha256": m.sha256,
            "settings": m.training.settings,
            "imagenet_pretrained": m.parts.image.imagenet_pretrained,
        }


def _refuse_if_differs(path: Path, checks: dict[str, bool]) -> None:
    differs = [what for what, same in checks.items() if not same]
    if differs:
        raise ValueError(
            f"the image members in {path} cannot be reused: {' and '.join(differs)} "
            "differ from this run; train them again instead."
        )
