"""Weights load only as safetensors: no pickle-based loader anywhere in rehab_core/.

Loading a pickle runs code chosen by whoever wrote the file, so nothing a user
can upload, and no shipped weights, may go through ``torch.load``,
``pickle.load(s)``, ``joblib.load``, ``pandas.read_pickle`` or
``np.load(..., allow_pickle=True)``. The scan is syntactic (Python's ``ast``),
so comments and docstrings that mention these names do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rehab_core"

# (module, function) pairs that unpickle when called.
FORBIDDEN = {
    ("torch", "load"),
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("cPickle", "load"),
    ("cPickle", "loads"),
    ("dill", "load"),
    ("dill", "loads"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
    ("joblib", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
}

# Justified exceptions: file -> why. Each allowed torch.load must pass weights_only=True,
# which restricts the unpickler to tensors and plain containers (no code runs).
ALLOWED_TORCH_LOAD = {
    "rehab_core/models/_pretrained.py": (
        "ImageNet backbone weights an operator places in REHAB_PRETRAINED_DIR (.pth/.bin "
        "from torchvision or timm), read with weights_only=True; never an upload"
    ),
}


def _dotted(node: ast.AST) -> tuple[str, str] | None:
    """``("torch", "load")`` for ``torch.load`` (the last two names of an attribute chain)."""
    if isinstance(node, ast.Attribute):
        value = node.value
        if isinstance(value, ast.Name):
            return value.id, node.attr
        if isinstance(value, ast.Attribute):
            return value.attr, node.attr
    return None


def _keyword_true(call: ast.Call, name: str) -> bool:
    return any(
        kw.arg == name and isinstance(kw.value, ast.Constant) and kw.value.value is True
        for kw in call.keywords
    )


def find_pickle_loads(source: str, rel: str) -> list[str]:
    """Every pickle-based load in ``source``, as ``"rel:line: what"``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in {m for m, _ in FORBIDDEN}:
            for alias in node.names:
                if (node.module, alias.name) in FORBIDDEN:
                    found.append(f"{rel}:{node.lineno}: from {node.module} import {alias.name}")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in {("np", "load"), ("numpy", "load")}:
            if not any(kw.arg == "allow_pickle" for kw in node.keywords):
                continue
            if not any(
                kw.arg == "allow_pickle"
                and isinstance(kw.value, ast.Constant)
                and kw.value.value is False
                for kw in node.keywords
            ):
                found.append(f"{rel}:{node.lineno}: np.load(..., allow_pickle=...)")
        elif name == ("torch", "load"):
            if rel in ALLOWED_TORCH_LOAD and _keyword_true(node, "weights_only"):
                continue
            found.append(f"{rel}:{node.lineno}: torch.load")
        elif name in FORBIDDEN:
            found.append(f"{rel}:{node.lineno}: {name[0]}.{name[1]}")
    return found


def test_no_pickle_loader_in_the_package():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20  # the scan really looked at the package
    found = []
    for path in files:
        rel = path.relative_to(PACKAGE.parent).as_posix()
        found += find_pickle_loads(path.read_text(encoding="utf-8"), rel)
    assert not found, "pickle-based loading (use safetensors or JSON):\n" + "\n".join(found)


def test_allow_list_entries_exist_and_are_justified():
    for rel, why in ALLOWED_TORCH_LOAD.items():
        assert (PACKAGE.parent / rel).is_file(), rel
        assert len(why) > 40


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("torch.load(p)", "torch.load"),
        ("torch.load(p, weights_only=False)", "torch.load"),
        ("pickle.loads(b)", "pickle.loads"),
        ("pickle.Unpickler(f).load()", "pickle.Unpickler"),
        ("joblib.load(p)", "joblib.load"),
        ("pd.read_pickle(p)", "pd.read_pickle"),
        ("np.load(p, allow_pickle=True)", "np.load"),
        ("np.load(p, allow_pickle=flag)", "np.load"),
        ("from pickle import loads", "from pickle import loads"),
    ],
)
def test_the_scan_catches_each_loader(line, what):
    assert find_pickle_loads(line, "x.py") == [f"x.py:1: {what}" + _suffix(what)]


def _suffix(what: str) -> str:
    return "(..., allow_pickle=...)" if what == "np.load" else ""


@pytest.mark.parametrize(
    "line",
    [
        "np.load(p)",
        "np.load(p, allow_pickle=False)",
        "json.loads(s)",
        "# torch.load(p) in a comment",
        "'pickle.load in a string'",
    ],
)
def test_the_scan_lets_safe_code_pass(line):
    assert find_pickle_loads(line, "x.py") == []


def test_allowed_file_still_needs_weights_only():
    rel = next(iter(ALLOWED_TORCH_LOAD))
    assert find_pickle_loads("torch.load(p, weights_only=True)", rel) == []
    assert find_pickle_loads("torch.load(p)", rel) == [f"{rel}:1: torch.load"]
