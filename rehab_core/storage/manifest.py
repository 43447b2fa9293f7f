"""The bundle manifest as a typed, versioned record (``manifest.json`` of a weights bundle).

A weights bundle (:mod:`rehab_core.storage.weights`) is ``model.safetensors``
plus ``manifest.json``: what a reader needs to trust and reproduce a
prediction. :class:`BundleManifest` is that file as frozen dataclasses, with
:meth:`~BundleManifest.to_dict` / :meth:`~BundleManifest.from_dict`, a
``schema_version`` and validation on load: a manifest that lacks a field or
holds a wrong type is refused with one sentence naming the field.

Schema versions
---------------
1. Written by ``rehab train`` up to package 0.1.0: ``manifest_version: 1``,
   ``data.synthetic`` (bool), no ``schema_version``.
2. (current) ``schema_version: 2``; ``data.trained_on`` (``"synthetic"`` or
   ``"real"``) replaces ``data.synthetic``; ``parts.image.imagenet_pretrained``
   (whether the image members started from ImageNet weights) is required;
   ``notes`` says what a conversion from an older schema assumed.

A schema-1 manifest is converted on load (:func:`manifest_from_v1`), its
``notes`` saying which values were derived and from what. The
``manifest_sha256`` of a loaded manifest is the hash of the file as written;
it is checked by :func:`rehab_core.storage.load_bundle` on the file's own
JSON, before any conversion.

The libraries' own records inside a manifest (preprocessing settings, the
fitted fusion and FMA-LE regressor, training histories, evaluation tables)
stay plain JSON dicts here: storage sits below those libraries and does not
import them; each library reads its own part (``SignalSettings.from_dict``,
``LateFusion.from_dict``...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rehab_core._json import to_jsonable

__all__ = [
    "SCHEMA_VERSION",
    "TRAINED_ON",
    "BundleManifest",
    "ImagePart",
    "ManifestError",
    "Metrics",
    "Parts",
    "Preprocessing",
    "SignalPart",
    "Split",
    "TrainingData",
    "TrainingRecord",
    "manifest_from_v1",
]

SCHEMA_VERSION = 2
"""The schema :meth:`BundleManifest.to_dict` writes."""

TRAINED_ON = ("synthetic", "real")
"""What a bundle can have been trained on."""


class ManifestError(ValueError):
    """A manifest that does not follow the schema; the message is one sentence."""


# --- reading one field ------------------------------------------------------------------------
class _Fields:
    """Typed access to one JSON object of a manifest; errors name the field's dotted path."""

    def __init__(self, value: Any, path: str, source: str) -> None:
        if not isinstance(value, Mapping):
            where = f" {path}" if path else ""
            raise ManifestError(
                f"{source}{where} is {type(value).__name__}, not an object; "
                "it was not written by rehab train."
            )
        self.value, self.path, self.source = value, path, source

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _wrong(self, key: str, got: Any, expected: str) -> ManifestError:
        return ManifestError(f"{self.source} has {self._name(key)}={got!r}; expected {expected}.")

    def get(self, key: str, kind: type | tuple[type, ...], expected: str, *, optional=False):
        if key not in self.value:
            if optional:
                return None
            raise ManifestError(
                f"{self.source} lacks {self._name(key)}; it was not written by rehab train."
            )
        got = self.value[key]
        if got is None and optional:
            return None
        if isinstance(got, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self._wrong(key, got, expected)
        if not isinstance(got, kind):
            raise self._wrong(key, got, expected)
        return got

    def text(self, key: str, *, optional: bool = False) -> str | None:
        return self.get(key, str, "text", optional=optional)

    def count(self, key: str, *, low: int = 0) -> int:
        got = self.get(key, int, f"a whole number of at least {low}")
        if got < low:
            raise self._wrong(key, got, f"a whole number of at least {low}")
        return got

    def flag(self, key: str) -> bool:
        return self.get(key, bool, "true or false")

    def number(self, key: str, *, optional: bool = False) -> float | None:
        return self.get(key, (int, float), "a number", optional=optional)

    def record(self, key: str, *, optional: bool = False) -> dict[str, Any] | None:
        got = self.get(key, Mapping, "an object", optional=optional)
        return None if got is None else dict(got)

    def texts(self, key: str) -> tuple[str, ...]:
        got = self.get(key, list, "a list of text")
        if not all(isinstance(v, str) for v in got):
            raise self._wrong(key, got[:3], "a list of text")
        return tuple(got)

    def items(self, key: str) -> list[Any]:
        return list(self.get(key, list, "a list"))

    def nested(self, key: str) -> _Fields:
        return _Fields(self.get(key, Mapping, "an object"), self._name(key), self.source)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        got = self.text(key)
        if got not in allowed:
            raise self._wrong(key, got, " or ".join(repr(a) for a in allowed))
        return got


# --- the records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignalPart:
    """The EEG-EMG ensemble: ``n_members`` models ``model`` built with ``kwargs``."""

    model: str
    kwargs: dict[str, Any]
    n_members: int

    @classmethod
    def _read(cls, f: _Fields) -> SignalPart:
        return cls(
            model=f.text("model"), kwargs=f.record("kwargs"), n_members=f.count("n_members", low=1)
        )


@dataclass(frozen=True)
class ImagePart:
    """The fMRI ensemble; ``imagenet_pretrained``: whether its members started from ImageNet."""

    model: str
    architecture: str
    n_members: int
    imagenet_pretrained: bool
    pretrained_source: str | None = None

    @classmethod
    def _read(cls, f: _Fields) -> ImagePart:
        return cls(
            model=f.text("model"),
            architecture=f.text("architecture"),
            n_members=f.count("n_members", low=1),
            imagenet_pretrained=f.flag("imagenet_pretrained"),
            pretrained_source=f.text("pretrained_source", optional=True),
        )


@dataclass(frozen=True)
class Parts:
    """The bundle's two ensembles (tensors ``signal<k>.*`` and ``image<k>.*``)."""

    signal: SignalPart
    image: ImagePart


@dataclass(frozen=True)
class Preprocessing:
    """The settings every input of this bundle must be preprocessed with (``Settings.to_dict``)."""

    signals: dict[str, Any]
    imaging: dict[str, Any]


@dataclass(frozen=True)
class TrainingRecord:
    """How the members were trained: ``ExperimentSettings.to_dict``, device, per-member histories.

    ``histories`` maps ``"signal"`` and ``"image"`` to one record per member;
    ``image_members_from`` names the earlier bundle whose image members were
    reused (``None`` when they were trained here).
    """

    settings: dict[str, Any]
    device: str
    histories: dict[str, list[Any]]
    image_members_from: dict[str, Any] | None = None


@dataclass(frozen=True)
class Split:
    """The patient-level split: development patients (``n_folds`` folds) and held-out test."""

    development: tuple[str, ...]
    test: tuple[str, ...]
    n_folds: int


@dataclass(frozen=True)
class TrainingData:
    """What the bundle learnt from.

    ``trained_on`` is ``"synthetic"`` or ``"real"``;
    ``development_inputs_sha256`` lists every input file a member learnt
    from or early-stopped on (evaluation never counts a patient with one of
    them); ``fingerprint_sha256`` identifies the whole training cohort.
    """

    description: str
    trained_on: str
    fingerprint_sha256: str
    development_inputs_sha256: tuple[str, ...]
    n_patients: int
    split: Split

    @property
    def synthetic(self) -> bool:
        return self.trained_on == "synthetic"


@dataclass(frozen=True)
class Metrics:
    """The training run's evaluation: paper tables (``to_json`` form), FMA-LE metrics, ceiling."""

    evaluated_on: str
    tables: dict[str, Any]
    fma: dict[str, Any] | None = None
    bayes_ceiling_auc: float | None = None
    #: The clinical comparators fitted on the development patients (``ClinicalLogistic``
    #: JSON states by row name), so an external evaluation applies them, not refits them.
    clinical: dict[str, Any] | None = None


@dataclass(frozen=True)
class BundleManifest:
    """A weights bundle's ``manifest.json``, typed (see the module docstring for the schema).

    ``created``, ``files``, ``sha256`` (of ``model.safetensors``) and
    ``manifest_sha256`` are set by :func:`rehab_core.storage.save_bundle`;
    ``notes`` says what a conversion from an older schema assumed.
    """

    model_id: str
    display_name: str
    version: str
    task: str
    parts: Parts
    fusion: dict[str, Any]
    fma_regressor: dict[str, Any]
    fma_uses_baseline: bool
    preprocessing: Preprocessing
    training: TrainingRecord
    data: TrainingData
    metrics: Metrics | None = None
    created: str | None = None
    files: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    manifest_sha256: str | None = None
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    # the two facts issue 13's labelling reads
    @property
    def trained_on(self) -> str:
        """``"synthetic"`` or ``"real"``."""
        return self.data.trained_on

    @property
    def imagenet_pretrained(self) -> bool:
        """Whether the image members started from ImageNet weights."""
        return self.parts.image.imagenet_pretrained

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, schema :data:`SCHEMA_VERSION`; ``manifest_sha256`` left out when unset."""
        out = to_jsonable(dataclasses.asdict(self))
        if out["manifest_sha256"] is None:
            del out["manifest_sha256"]
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "The manifest") -> BundleManifest:
        """Read and validate a manifest of any known schema (schema 1 is converted).

        Parameters
        ----------
        raw : mapping
            ``json.loads`` of ``manifest.json``.
        source : str
            How errors name the manifest (``"The manifest of shufflenet_lstm"``).

        Raises
        ------
        ManifestError
            A field is missing or of the wrong type, or the schema is unknown;
            one sentence naming the field.
        """
        top = _Fields(raw, "", source)
        if "schema_version" not in raw:
            if raw.get("manifest_version") == 1:
                return manifest_from_v1(raw, source=source)
            raise ManifestError(
                f"{source} has neither schema_version nor manifest_version 1; "
                "it was not written by rehab train."
            )
        version = top.count("schema_version", low=1)
        if version != SCHEMA_VERSION:
            raise ManifestError(
                f"{source} has schema version {version}, which this package "
                f"(schema {SCHEMA_VERSION}) cannot read; update rehab_core or retrain the bundle."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ManifestError(
                f"{source} has unknown field(s) {', '.join(unknown)}; "
                "it was not written by rehab train."
            )
        return cls._read(top)

    @classmethod
    def _read(cls, top: _Fields) -> BundleManifest:
        parts, pre = top.nested("parts"), top.nested("preprocessing")
        training, data = top.nested("training"), top.nested("data")
        split = data.nested("split")
        metrics = None
        if top.value.get("metrics") is not None:
            m = top.nested("metrics")
            metrics = Metrics(
                evaluated_on=m.text("evaluated_on"),
                tables=m.record("tables"),
                fma=m.record("fma", optional=True),
                bayes_ceiling_auc=m.number("bayes_ceiling_auc", optional=True),
                clinical=m.record("clinical", optional=True),
            )
        return cls(
            model_id=top.text("model_id"),
            display_name=top.text("display_name"),
            version=top.text("version"),
            task=top.text("task"),
            parts=Parts(
                signal=SignalPart._read(parts.nested("signal")),
                image=ImagePart._read(parts.nested("image")),
            ),
            fusion=top.record("fusion"),
            fma_regressor=top.record("fma_regressor"),
            fma_uses_baseline=top.flag("fma_uses_baseline"),
            preprocessing=Preprocessing(
                signals=pre.record("signals"), imaging=pre.record("imaging")
            ),
            training=TrainingRecord(
                settings=training.record("settings"),
                device=training.text("device"),
                histories=training.record("histories"),
                image_members_from=training.record("image_members_from", optional=True),
            ),
            data=TrainingData(
                description=data.text("description"),
                trained_on=data.choice("trained_on", TRAINED_ON),
                fingerprint_sha256=data.text("fingerprint_sha256"),
                development_inputs_sha256=data.texts("development_inputs_sha256"),
                n_patients=data.count("n_patients"),
                split=Split(
                    development=split.texts("development"),
                    test=split.texts("test"),
                    n_folds=split.count("n_folds", low=2),
                ),
            ),
            metrics=metrics,
            created=top.text("created", optional=True),
            files=top.record("files", optional=True) or {},
            sha256=top.text("sha256", optional=True),
            manifest_sha256=top.text("manifest_sha256", optional=True),
            notes=top.texts("notes") if "notes" in top.value else (),
            schema_version=top.count("schema_version", low=1),
        )


def manifest_from_v1(raw: Mapping[str, Any], *, source: str = "The manifest") -> BundleManifest:
    """Convert a schema-1 manifest (``manifest_version: 1``) to a :class:`BundleManifest`.

    ``data.trained_on`` follows from schema 1's ``data.synthetic``;
    ``parts.image.imagenet_pretrained``, when absent, from whether
    ``parts.image.pretrained_source`` names weights. Each derived value is
    stated in ``notes``. ``manifest_sha256`` stays the file's own hash.
    """
    top = _Fields(raw, "", source)
    data = top.nested("data")
    if "synthetic" not in data.value:
        raise ManifestError(
            f"{source} (schema 1) does not say whether it was trained on synthetic or real "
            "data (data.synthetic); train the bundle again with rehab train."
        )
    synthetic = data.flag("synthetic")
    trained_on = "synthetic" if synthetic else "real"
    notes = [
        f"Schema-1 manifest converted on load: data.trained_on={trained_on!r} follows from "
        f"its data.synthetic={synthetic}."
    ]
    image = dict(top.nested("parts").nested("image").value)
    if "imagenet_pretrained" not in image:
        source_name = image.get("pretrained_source")
        image["imagenet_pretrained"] = source_name is not None
        notes.append(
            "Schema-1 manifest without parts.image.imagenet_pretrained: "
            f"{image['imagenet_pretrained']} assumed, because parts.image.pretrained_source "
            f"is {source_name!r}."
        )
    converted = {k: v for k, v in raw.items() if k != "manifest_version"}
    converted["data"] = {
        **{k: v for k, v in data.value.items() if k != "synthetic"},
        "trained_on": trained_on,
    }
    converted["parts"] = {**raw["parts"], "image": image}
    converted["notes"] = [*raw.get("notes", []), *notes]
    converted["schema_version"] = SCHEMA_VERSION
    return BundleManifest._read(_Fields(converted, "", source))
