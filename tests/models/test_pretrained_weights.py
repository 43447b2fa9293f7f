"""ImageNet weights: local files, caches, offline behaviour; never silent, never a hang."""

from __future__ import annotations

import http.server
import threading
import time
import warnings

import pytest
import torch

from rehab_core.models import (
    PretrainedWeightsWarning,
    _pretrained,
    create_model,
    is_offline,
    list_models,
)

IMAGE_MODELS = list_models("image")
HEADS = {
    "regnet": "head.fc",
    "shufflenet": "fc",
    "resnet50": "fc",
    "fbnet": "classifier",
    "ghostnet": "classifier",
}


def _imagenet_file(tmp_path, name, suffix=".safetensors"):
    """A randomly initialised ImageNet-shaped (1000 logits) state dict saved to a file."""
    source = create_model(name, n_outputs=1000)
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(source.state_dict(), str(path))
    else:
        torch.save(source.state_dict(), path)
    return source.state_dict(), path


def _assert_body_equal(model, reference, head):
    state = model.state_dict()
    body = [k for k in state if not k.startswith(f"{head}.")]
    assert body and all(torch.equal(state[k], reference[k]) for k in body)
    assert state[f"{head}.weight"].shape[0] == 1  # the head fits n_outputs=1, not the file's 1000


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_offline_without_weights_warns_and_starts_random(name):
    start = time.perf_counter()
    with pytest.warns(
        PretrainedWeightsWarning,
        match=rf"No ImageNet weights could be loaded for '{name}' \(.*offline mode is on.*\), "
        r"so it starts from random initialisation; set REHAB_PRETRAINED_DIR to a folder "
        rf"holding {name}\.safetensors or connect to the internet\.",
    ):
        model = create_model(name, pretrained=True)
    assert model.pretrained_source is None
    assert time.perf_counter() - start < 10.0  # no network wait, only model construction


def test_unreachable_hub_is_treated_as_offline(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(
        huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9"
    )  # discard port: refused
    assert not is_offline()
    start = time.perf_counter()
    with pytest.warns(
        PretrainedWeightsWarning, match=r"http://127\.0\.0\.1:9 cannot be reached and the Hugging"
    ):
        model = create_model("regnet", pretrained=True)
    assert model.pretrained_source is None
    assert time.perf_counter() - start < 10.0


def test_unreachable_torchvision_download_warns(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(_pretrained, "is_offline", lambda: False)
    monkeypatch.setattr(_pretrained, "url_reachable", lambda url, timeout=3.0: False)
    with pytest.warns(
        PretrainedWeightsWarning, match=r"shufflenetv2_x1-5666bf0f80\.pth cannot be reached"
    ):
        model = create_model("shufflenet", pretrained=True)
    assert model.pretrained_source is None


def test_url_reachable_is_bounded_and_true_for_any_http_answer():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert _pretrained.url_reachable(f"http://127.0.0.1:{server.server_port}/x.safetensors")
    finally:
        server.shutdown()
        server.server_close()
    start = time.perf_counter()
    assert not _pretrained.url_reachable("http://127.0.0.1:9", timeout=1.0)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "REHAB_OFFLINE"])
def test_offline_is_read_from_the_environment_at_call_time(monkeypatch, variable):
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    assert not is_offline()
    monkeypatch.setenv(variable, "true")
    assert is_offline()


@pytest.mark.parametrize("name", ["regnet", "shufflenet"])  # the timm path and the torchvision path
def test_weights_path_safetensors(tmp_path, name):
    reference, path = _imagenet_file(tmp_path, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading a given file must not warn
        model = create_model(name, pretrained=True, weights_path=path)
    assert model.pretrained_source == f"file:{path.resolve()}"
    _assert_body_equal(model, reference, HEADS[name])


@pytest.mark.parametrize("name", ["ghostnet", "shufflenet"])
def test_weights_path_pth_is_read_without_pickle_code(tmp_path, name):
    reference, path = _imagenet_file(tmp_path, name, suffix=".pth")
    model = create_model(name, pretrained=True, weights_path=str(path))
    _assert_body_equal(model, reference, HEADS[name])


def test_1000_outputs_keep_the_file_classifier(tmp_path):
    reference, path = _imagenet_file(tmp_path, "shufflenet")
    model = create_model("shufflenet", n_outputs=1000, pretrained=True, weights_path=path)
    torch.testing.assert_close(model.state_dict()["fc.weight"], reference["fc.weight"])


def test_rehab_pretrained_dir(tmp_path, monkeypatch):
    reference, path = _imagenet_file(tmp_path, "regnet")
    monkeypatch.setenv("REHAB_PRETRAINED_DIR", str(tmp_path))
    model = create_model("regnet", pretrained=True)
    assert model.pretrained_source == f"file:{path.resolve()}"
    _assert_body_equal(model, reference, "head.fc")


def test_rehab_pretrained_dir_without_the_file_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_PRETRAINED_DIR", str(tmp_path))
    with pytest.warns(
        PretrainedWeightsWarning, match=r"REHAB_PRETRAINED_DIR=.* has no regnet\.safetensors"
    ):
        create_model("regnet", pretrained=True)


def test_hugging_face_cache_is_used_offline(tmp_path):
    import huggingface_hub.constants
    from safetensors.torch import save_file

    source = create_model("regnet", n_outputs=1000)
    snapshot = tmp_path / "hf-cache" / "models--timm--regnety_008.pycls_in1k"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("0123abcd")
    (snapshot / "snapshots" / "0123abcd").mkdir(parents=True)
    save_file(source.state_dict(), str(snapshot / "snapshots" / "0123abcd" / "model.safetensors"))
    assert huggingface_hub.constants.HF_HUB_CACHE == str(
        tmp_path / "hf-cache"
    )  # the fixture's cache
    model = create_model("regnet", pretrained=True)
    assert model.pretrained_source == "hf-hub:timm/regnety_008.pycls_in1k"
    _assert_body_equal(model, source.state_dict(), "head.fc")


def test_torch_hub_cache_is_used_offline(tmp_path):
    source = create_model("shufflenet", n_outputs=1000)
    checkpoints = tmp_path / "torch-home" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(source.state_dict(), checkpoints / "shufflenetv2_x1-5666bf0f80.pth")
    model = create_model("shufflenet", pretrained=True)
    assert model.pretrained_source == "torchvision:ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1"
    _assert_body_equal(model, source.state_dict(), "fc")


@pytest.mark.parametrize(("name", "other"), [("regnet", "shufflenet"), ("shufflenet", "regnet")])
def test_weights_of_another_architecture_are_refused(tmp_path, name, other):
    _, path = _imagenet_file(tmp_path, other)
    with pytest.raises(
        ValueError, match=r"does not hold .* weights: \d+ tensors are missing, \d+ unexpected"
    ):
        create_model(name, pretrained=True, weights_path=path)


def test_weights_of_another_shape_are_refused(tmp_path):
    from safetensors.torch import save_file

    state = create_model("shufflenet", n_outputs=1000).state_dict()
    state["conv5.0.weight"] = torch.zeros(1024, 464, 3, 3)
    path = tmp_path / "shufflenet.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError, match=r"1 of another shape \(e\.g\. 'conv5\.0\.weight'\)"):
        create_model("shufflenet", pretrained=True, weights_path=path)


def test_pickled_code_is_never_run(tmp_path):
    marker = tmp_path / "pickled-code-ran"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    path = tmp_path / "regnet.pth"
    torch.save({"stem.conv.weight": Payload()}, path)
    with pytest.raises(
        ValueError, match=r"could not be read as a weights file \(UnpicklingError\)"
    ):
        create_model("regnet", pretrained=True, weights_path=path)
    assert not marker.exists()


def test_missing_weights_path(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"weights_path=.*nope\.safetensors' does not exist"
    ):
        create_model("regnet", pretrained=True, weights_path=tmp_path / "nope.safetensors")


def test_weights_path_suffix(tmp_path):
    path = tmp_path / "regnet.npz"
    path.write_bytes(b"")
    with pytest.raises(
        ValueError, match=r"weights_path suffix='\.npz' is not allowed; choose one of"
    ):
        create_model("regnet", pretrained=True, weights_path=path)


def test_a_file_without_tensors_is_refused(tmp_path):
    path = tmp_path / "regnet.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="holds no state dict of named tensors"):
        create_model("regnet", pretrained=True, weights_path=path)
