"""Finding and loading ImageNet weights for the image backbones, never silently.

Order of preference (the first that exists wins):

1. ``weights_path`` given by the caller;
2. ``$REHAB_PRETRAINED_DIR/<name>.safetensors``;
3. timm: the Hugging Face cache / hub; torchvision: the torch hub cache
   (``$TORCH_HOME/hub/checkpoints``) / download.

Offline (``HF_HUB_OFFLINE`` or ``REHAB_OFFLINE`` set to 1/true/yes/on) step 3
reads the caches only.  Online, the host is first probed with one HTTP
``HEAD`` request of at most 3 s, because the Hugging Face client otherwise
retries an unreachable host for about a minute; an unreachable host is then
treated like offline mode.  When no weights can be had, a
:class:`PretrainedWeightsWarning` says so in one sentence and the model keeps
its random initialisation; ``model.pretrained_source`` records which weights
were loaded (``None`` for none).
"""

from __future__ import annotations

import os
import pickle
import threading
import urllib.parse
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rehab_core._validation import check_option

if TYPE_CHECKING:
    import torch
    from torch import nn

    from rehab_core.models._registry import ModelInfo

__all__ = [
    "PretrainedWeightsWarning",
    "build_timm_model",
    "check_state_dict",
    "pretrain_torchvision_model",
    "find_local_weights",
    "imagenet_weights_on_this_machine",
    "is_offline",
    "load_weights_file",
    "load_pretrained_into",
]

WEIGHT_SUFFIXES: tuple[str, ...] = (".safetensors", ".pth", ".bin")
IMAGENET_N_CLASSES = 1000
PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "true", "yes", "on"}


class PretrainedWeightsWarning(UserWarning):
    """ImageNet weights were asked for but could not be loaded (random initialisation)."""


def is_offline() -> bool:
    """``True`` when ``HF_HUB_OFFLINE`` or ``REHAB_OFFLINE`` is set to 1/true/yes/on.

    Read at every call (not at import), and also true when the Hugging Face
    client was imported in offline mode.
    """
    if any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "REHAB_OFFLINE")
    ):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def find_local_weights(
    name: str, weights_path: str | os.PathLike | None
) -> tuple[Path | None, str]:
    """Step 1 and 2 of the lookup: the explicit file, else the one in ``REHAB_PRETRAINED_DIR``.

    Returns
    -------
    path : Path or None
        The weights file, or ``None`` when neither is given or present.
    reason : str
        Why nothing was found (empty when ``path`` is set), for the warning.
    """
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        check_option("weights_path suffix", path.suffix, WEIGHT_SUFFIXES)
        if not path.is_file():
            raise FileNotFoundError(
                f"weights_path={str(weights_path)!r} does not exist; give the path of a "
                ".safetensors, .pth or .bin file of ImageNet weights."
            )
        return path.resolve(), ""
    folder = os.environ.get("REHAB_PRETRAINED_DIR", "").strip()
    if not folder:
        return None, "REHAB_PRETRAINED_DIR is not set"
    path = Path(folder).expanduser() / f"{name}.safetensors"
    if path.is_file():
        return path.resolve(), ""
    return None, f"REHAB_PRETRAINED_DIR={folder} has no {name}.safetensors"


def load_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or, without running pickled code, ``.pth``/``.bin``.

    A checkpoint that wraps the weights under ``"state_dict"`` or ``"model"``
    is unwrapped, and a ``"module."`` prefix (DistributedDataParallel) removed.
    """
    import torch

    path = Path(path)
    check_option("weights file suffix", path.suffix, WEIGHT_SUFFIXES)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as err:
        raise ValueError(
            f"{path} could not be read as a weights file ({type(err).__name__}); "
            "give a .safetensors file or a .pth/.bin file holding only tensors."
        ) from err
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ValueError(
            f"{path} holds no state dict of named tensors; give a file of model weights."
        )
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def check_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    reference: Mapping[str, torch.Tensor],
    dropped: Iterable[str],
    *,
    path: str | os.PathLike,
    architecture: str,
) -> None:
    """Refuse weights whose tensor names or shapes differ from the architecture's.

    Parameters
    ----------
    state_dict : mapping of str to Tensor
        The weights read from ``path``.
    reference : mapping of str to Tensor
        The state dict of the architecture as built (may live on the meta device).
    dropped : iterable of str
        Module names whose weights are not taken from the file (a classifier
        replaced for ``n_outputs`` logits); BatchNorm ``num_batches_tracked``
        counters are not required either.
    """
    prefixes = tuple(f"{d}." for d in dropped)
    file_keys = {k for k in state_dict if not k.startswith(prefixes)}
    model_keys = {k for k in reference if not k.startswith(prefixes)}
    missing = sorted(k for k in model_keys - file_keys if not k.endswith("num_batches_tracked"))
    unexpected = sorted(file_keys - model_keys)
    reshaped = sorted(
        k for k in file_keys & model_keys if tuple(state_dict[k].shape) != tuple(reference[k].shape)
    )
    if missing or unexpected or reshaped:
        example = (missing or unexpected or reshaped)[0]
        raise ValueError(
            f"{path} does not hold {architecture} weights: {len(missing)} tensors are missing, "
            f"{len(unexpected)} unexpected and {len(reshaped)} of another shape "
            f"(e.g. {example!r}); give the ImageNet weights of exactly this architecture."
        )


def load_pretrained_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    classifier: str,
    n_outputs: int,
    path: str | os.PathLike,
    architecture: str,
) -> None:
    """Copy ImageNet weights into ``model`` in place (its classifier only for 1000 outputs)."""
    dropped = (classifier,) if n_outputs != IMAGENET_N_CLASSES else ()
    check_state_dict(state_dict, model.state_dict(), dropped, path=path, architecture=architecture)
    prefixes = tuple(f"{d}." for d in dropped)
    model.load_state_dict(
        {k: v for k, v in state_dict.items() if not k.startswith(prefixes)}, strict=False
    )


def url_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether an HTTP ``HEAD`` request to ``url`` gets any answer within ``timeout`` seconds.

    Proxy settings in the environment are honoured (``urllib``).  The request
    runs in a daemon thread, so neither a slow name lookup nor a silent host
    blocks the caller longer than ``timeout``.
    """
    import urllib.error
    import urllib.request

    result: list[bool] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, method="HEAD"), timeout=timeout
            ):
                result.append(True)
        except urllib.error.HTTPError:  # the server answered (e.g. 401, 404): it is reachable
            result.append(True)
        except (OSError, ValueError):  # URLError, timeouts, refused connections, bad URLs
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True, name="rehab-weights-probe")
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def warn_random_init(name: str, reasons: Iterable[str]) -> None:
    """Issue the one-sentence :class:`PretrainedWeightsWarning` for ``name``."""
    why = " and ".join(r for r in reasons if r)
    warnings.warn(
        f"No ImageNet weights could be loaded for {name!r} ({why}), so it starts from random "
        f"initialisation; set REHAB_PRETRAINED_DIR to a folder holding {name}.safetensors "
        "or connect to the internet.",
        PretrainedWeightsWarning,
        stacklevel=5,  # user -> create_model -> entry -> build_* -> here
    )


def _hf_cached_file(repo_id: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return found
    return None


def _torch_hub_checkpoint(url: str) -> Path:
    """Where torch's hub keeps the file of a weights ``url`` once downloaded."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urllib.parse.urlsplit(url).path).name


def imagenet_weights_on_this_machine(name: str) -> str | None:
    """Where a backbone's ImageNet weights would be read from without a network, or ``None``.

    The same lookup as training (the module docstring) up to the download,
    without building the model or touching the network: ``REHAB_PRETRAINED_DIR``,
    then the Hugging Face cache (timm) or the torch hub cache (torchvision).
    A page asks it before a job starts, so that "start from ImageNet weights"
    on a machine that has none is said before the hours of training, not after.

    Returns
    -------
    str or None
        ``"file:<path>"``, ``"hf-cache:<repo>"`` or ``"torch-hub-cache:<file>"``;
        ``None`` when the weights would have to be downloaded (or the model
        has none).
    """
    from rehab_core.models._registry import get_model_info

    info = get_model_info(name)
    if info.pretrained_tag is None:
        return None
    path, _ = find_local_weights(info.name, None)
    if path is not None:
        return f"file:{path}"
    if info.source == "timm":
        from timm.models import get_pretrained_cfg

        hub_id = get_pretrained_cfg(f"{info.architecture}.{info.pretrained_tag}").hf_hub_id
        return f"hf-cache:{hub_id}" if hub_id and _hf_cached_file(hub_id) else None
    import torchvision

    weights = torchvision.models.get_model_weights(info.architecture)[info.pretrained_tag]
    cached = _torch_hub_checkpoint(weights.url)
    return f"torch-hub-cache:{cached.name}" if cached.is_file() else None


def build_timm_model(
    info: ModelInfo,
    *,
    n_outputs: int,
    pretrained: bool,
    weights_path: str | os.PathLike | None,
    **kw: Any,
) -> nn.Module:
    """Build a timm backbone, with ImageNet weights found as the module docstring says."""
    import timm
    from timm.models import get_pretrained_cfg

    arch = f"{info.architecture}.{info.pretrained_tag}"
    source: str | None = None
    path, local_reason = (
        (None, "") if not pretrained else find_local_weights(info.name, weights_path)
    )
    if path is not None:
        source = f"file:{path}"
    elif pretrained:
        from huggingface_hub import constants

        hub_id = get_pretrained_cfg(arch).hf_hub_id
        offline = is_offline()
        if not offline and url_reachable(constants.ENDPOINT):
            try:
                model = timm.create_model(arch, pretrained=True, num_classes=n_outputs, **kw)
            except OSError as err:
                warn_random_init(
                    info.name,
                    [local_reason, f"the download from the Hugging Face hub failed: {err}"],
                )
            else:
                model.pretrained_source = f"hf-hub:{hub_id}"
                return model
        else:
            cached = _hf_cached_file(hub_id)
            if cached is not None:
                path, source = Path(cached), f"hf-hub:{hub_id}"
            else:
                why = "offline mode is on" if offline else f"{constants.ENDPOINT} cannot be reached"
                warn_random_init(
                    info.name, [local_reason, f"{why} and the Hugging Face cache has no {hub_id}"]
                )

    if path is None:
        model = timm.create_model(arch, pretrained=False, num_classes=n_outputs, **kw)
        model.pretrained_source = None
        return model

    # Check the file against the architecture (built on the meta device: no memory,
    # no initialisation) before timm reads it, so a wrong file gets one clear error.
    import torch

    with torch.device("meta"):
        reference = timm.create_model(arch, pretrained=False, num_classes=n_outputs, **kw)
    cfg = reference.pretrained_cfg
    classifier = cfg.get("classifier")
    classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier or ())
    dropped = classifiers if n_outputs != cfg.get("num_classes") else ()
    state_dict = load_weights_file(path)
    check_state_dict(
        state_dict, reference.state_dict(), dropped, path=path, architecture=info.architecture
    )
    model = timm.create_model(
        arch,
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(path)),
        num_classes=n_outputs,
        **kw,
    )
    # timm only honours `file` for configs without a hub `source`; make sure it did.
    prefixes = tuple(f"{d}." for d in dropped)
    loaded = model.state_dict()
    if not all(
        torch.equal(loaded[k], v) for k, v in state_dict.items() if not k.startswith(prefixes)
    ):
        raise RuntimeError(f"timm did not load {path} into {arch}; report this as a bug.")
    model.pretrained_source = source
    return model


def pretrain_torchvision_model(
    model: nn.Module,
    info: ModelInfo,
    weights: Any,
    *,
    n_outputs: int,
    weights_path: str | os.PathLike | None,
    classifier: str,
) -> nn.Module:
    """Give a torchvision-defined ``model`` its ImageNet ``weights`` (a ``WeightsEnum`` member).

    The torch hub cache file is read when present; a download is tried only
    online and after a successful probe of the download host.  Sets
    ``model.pretrained_source`` and returns ``model``.
    """
    import torch

    path, local_reason = find_local_weights(info.name, weights_path)
    source: str | None = None
    state_dict = None
    if path is not None:
        state_dict, source = load_weights_file(path), f"file:{path}"
    else:
        url = weights.url
        cached = _torch_hub_checkpoint(url)
        offline = is_offline()
        if cached.is_file():
            path = cached
            state_dict = load_weights_file(cached)
        elif not offline and url_reachable(url):
            try:
                state_dict = torch.hub.load_state_dict_from_url(
                    url, map_location="cpu", progress=False, check_hash=True, weights_only=True
                )
            except OSError as err:
                warn_random_init(info.name, [local_reason, f"the download of {url} failed: {err}"])
        else:
            why = "offline mode is on" if offline else f"{url} cannot be reached"
            warn_random_init(
                info.name, [local_reason, f"{why} and the torch hub cache has no {cached.name}"]
            )
        if state_dict is not None:
            path = path or url
            source = f"torchvision:{weights}"
    if state_dict is not None:
        load_pretrained_into(
            model,
            state_dict,
            classifier=classifier,
            n_outputs=n_outputs,
            path=path,
            architecture=info.architecture,
        )
    model.pretrained_source = source
    return model
