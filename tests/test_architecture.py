"""The import-layer contract of ``rehab_core`` (issue 11), checked over the source.

The layers, lowest first; a module may import its own component and any
component of a lower layer, nothing else (so two components of one layer never
import each other)::

    1 base        rehab_core/__init__, _config, _validation, _files, _json
    2 io
    3 signals, imaging, models, evaluation, storage
    4 fusion, explain, demo, security
    5 training
    6 pipeline, prediction
    7 viz, report
    8 workflows   (the use cases the pages and the CLI call)
    9 jobs        (background execution of workflows)
   10 cli
      app.py and pages/ sit above all of them, outside the package.

What counts (see ``tests/_import_graph.py``): every import, at module level,
inside functions, and inside ``if TYPE_CHECKING:``. The layer rules hold for
all three: an annotation that names an upper layer's type is an upward
dependency too. The circle rule leaves ``TYPE_CHECKING`` imports out (they never
run, so they cannot make a circle at import time) and counts function imports
(they run later, and hiding a circle behind one is exactly what this test is
for). ``rehab_core`` never imports streamlit, nor ``app``/``pages``.

Today's code still breaks the contract in places that issue 11's refactors are
removing. Those are listed below, each with its issue; a new violation fails
``test_no_new_layer_violations``, and a listed one that is gone fails
``test_known_violations_still_occur`` until its entry is deleted, so the lists
only shrink.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from _import_graph import (
    build_graph,
    circle_path,
    find_circles,
    forbidden_imports,
    layer_violations,
    unassigned_modules,
)

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "rehab_core"


def _layer(*names: str) -> dict[str, list[str]]:
    return {name: [f"{PACKAGE}.{name}"] for name in names}


LAYERS = [
    {
        "base": [
            PACKAGE,  # the package's __init__ only
            f"{PACKAGE}._config",
            f"{PACKAGE}._validation",
            f"{PACKAGE}._files",
            f"{PACKAGE}._json",
            f"{PACKAGE}._format",
        ]
    },
    _layer("io"),
    _layer("signals", "imaging", "models", "evaluation", "storage"),
    _layer("fusion", "explain", "demo", "security"),
    _layer("training"),
    _layer("pipeline", "prediction"),
    _layer("viz", "report"),
    _layer("workflows"),
    _layer("jobs"),
    _layer("cli"),
]

# Never imported by rehab_core, wherever the import is written.
FORBIDDEN = ("streamlit", "app", "pages")

# Imports whose module name is computed (importlib.import_module(f"...")) cannot be followed.
# Allowed only in these package __init__ modules, where they load the package's own
# submodules on first attribute access: the root's subpackages (the same as
# ``import rehab_core.X``), and the lazy export maps of models and training, which the
# checker reads (``from rehab_core.training import fit_model`` depends on training.loop), and
# likewise storage's.
DYNAMIC_IMPORTS = {PACKAGE, f"{PACKAGE}.models", f"{PACKAGE}.storage", f"{PACKAGE}.training"}

# (importer, imported) -> the issue and the change that removes it. Measured at b2f9efa, the
# branch point of issue 11's parallel refactors, and again on main at d1c313b (after the store,
# viz, reg and harden merges: storage -> demo and storage -> security are gone) and at 8dc0fc0
# (after the gpu and cohort merges: the demo circle is gone, a training circle came); delete an
# entry when its import is gone. Empty since the arch merge (issue 11): train_experiment and
# evaluate_cohort moved to rehab_core/workflows, prepare_patient is called by the predict
# workflow (not by prediction), recording_arrays moved to signals, and viz/training.py
# describes the version rows it reads with a Protocol of its own.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}

# Sets of modules that import each other in a circle -> the issue that removes it.
KNOWN_CIRCLES: dict[frozenset[str], str] = {}


# --- the check, shared by rehab_core and the throw-away packages below -----------------------
def contract_problems(
    root: Path,
    package: str,
    layers,
    *,
    known_violations=(),
    known_circles=(),
    forbidden=FORBIDDEN,
    dynamic_allowed=(),
) -> dict[str, list[str]]:
    """Everything that breaks the contract and is not on the lists, by kind.

    Returns a dict with the keys ``unassigned``, ``violations``, ``circles``,
    ``forbidden``, ``dynamic`` (what is wrong now) and ``stale`` (list entries
    that no longer occur); each value is a list of readable lines, empty when
    all is well.
    """
    graph = build_graph(root, package)
    violations = layer_violations(graph, layers)
    circles = find_circles(graph)
    found_keys = {v.key for v in violations}
    return {
        "unassigned": unassigned_modules(graph, layers),
        "violations": [str(v) for v in violations if v.key not in known_violations],
        "circles": [
            " -> ".join(circle_path(graph, c, _first_new(c, known_circles)))
            + f"  (modules: {', '.join(sorted(c))})"
            for c in circles
            if not any(c <= known for known in known_circles)
        ],
        "forbidden": [str(v) for v in forbidden_imports(graph, forbidden)],
        "dynamic": [
            f"{module} line {line}: import_module with a computed name"
            for module, line in graph.dynamic
            if module not in dynamic_allowed
        ],
        "stale": [
            f"{a} -> {b} no longer occurs: delete it from KNOWN_VIOLATIONS"
            for a, b in known_violations
            if (a, b) not in found_keys
        ]
        + [
            f"the circle {sorted(known)} no longer occurs as listed (now: "
            + (", ".join(str(sorted(c)) for c in circles if c & known) or "none")
            + "); update KNOWN_CIRCLES"
            for known in known_circles
            if known not in circles
        ],
    }


def _first_new(circle: frozenset[str], known_circles) -> str:
    """A module of ``circle`` that no listed circle holds (the likely newcomer), if any."""
    new = circle - frozenset().union(*known_circles)
    return min(new or circle)


@pytest.fixture(scope="module")
def problems():
    return contract_problems(
        REPO,
        PACKAGE,
        LAYERS,
        known_violations=KNOWN_VIOLATIONS,
        known_circles=KNOWN_CIRCLES,
        dynamic_allowed=DYNAMIC_IMPORTS,
    )


def test_every_module_has_a_layer(problems):
    assert problems["unassigned"] == [], "add these modules' package to LAYERS"


def test_no_new_layer_violations(problems):
    assert problems["violations"] == [], "\n".join(problems["violations"])


def test_no_new_import_circles(problems):
    assert problems["circles"] == [], "\n".join(problems["circles"])


def test_rehab_core_never_imports_streamlit_or_the_pages(problems):
    assert problems["forbidden"] == [], "\n".join(problems["forbidden"])


def test_no_imports_the_checker_cannot_follow(problems):
    assert problems["dynamic"] == [], "\n".join(problems["dynamic"])


def test_known_violations_still_occur(problems):
    """The allow-lists only shrink: a fixed violation must leave them."""
    assert problems["stale"] == [], "\n".join(problems["stale"])


def test_every_known_violation_names_its_issue():
    for reason in [*KNOWN_VIOLATIONS.values(), *KNOWN_CIRCLES.values()]:
        assert reason.startswith("issue "), reason


# --- the same check on throw-away packages: it fails when it should --------------------------
TOY_LAYERS = [
    {"base": ["toy", "toy._util"]},
    {"low": ["toy.low"], "side": ["toy.side"]},
    {"high": ["toy.high"]},
]


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """Write ``toy/`` under ``tmp_path`` from {relative path: source}; return tmp_path."""
    base = {
        "toy/__init__.py": "",
        "toy/_util.py": "def helper():\n    return 1\n",
        "toy/low/__init__.py": "",
        "toy/low/a.py": "from toy._util import helper\n",
        "toy/side/__init__.py": "",
        "toy/high/__init__.py": "",
        "toy/high/b.py": "from toy.low import a\n",
    }
    for rel, source in {**base, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return tmp_path


def _check(root: Path, **kwargs) -> dict[str, list[str]]:
    return contract_problems(root, "toy", TOY_LAYERS, **kwargs)


def test_toy_package_that_keeps_the_contract_passes(tmp_path):
    problems = _check(_package(tmp_path, {}))
    assert all(v == [] for v in problems.values()), problems


@pytest.mark.parametrize(
    "source, where",
    [
        ("from toy.high import b\n", "line 1"),
        ("import toy.high.b as b\n", "line 1"),
        ("def f():\n    from toy.high.b import thing\n", "line 2 (function)"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.high import b\n",
            "line 3 (TYPE_CHECKING)",
        ),
        ("import importlib\nB = importlib.import_module('toy.high.b')\n", "line 2"),
        ("from ..high import b\n", "line 1"),
    ],
    ids=["module-level", "import-as", "in-function", "type-checking", "import_module", "relative"],
)
def test_an_upward_import_fails(tmp_path, source, where):
    problems = _check(_package(tmp_path, {"toy/low/up.py": source}))
    assert len(problems["violations"]) == 1
    line = problems["violations"][0]
    assert line.startswith("toy.low.up -> toy.high")
    assert "upward: low (layer 2) imports high (layer 3)" in line and where in line


def test_a_sideways_import_between_two_components_of_one_layer_fails(tmp_path):
    problems = _check(_package(tmp_path, {"toy/side/s.py": "def f():\n    import toy.low.a\n"}))
    assert problems["violations"] == [
        "toy.side.s -> toy.low.a (sideways: side and low share layer 2; line 2 (function))"
    ]


def test_an_import_circle_hidden_in_a_function_fails(tmp_path):
    files = {
        "toy/low/c1.py": "from toy.low.c2 import g\n\ndef f():\n    return g()\n",
        "toy/low/c2.py": "def g():\n    from toy.low.c1 import f\n    return f\n",
    }
    problems = _check(_package(tmp_path, files))
    assert problems["violations"] == []
    assert problems["circles"] == [
        "toy.low.c1 -> toy.low.c2 -> toy.low.c1  (modules: toy.low.c1, toy.low.c2)"
    ]


def test_a_circle_through_a_lazy_export_map_is_found(tmp_path):
    """``from pkg import name`` resolved in ``__getattr__`` depends on the module it loads."""
    files = {
        "toy/low/__init__.py": """
            import importlib
            _EXPORTS = {"make": "impl"}

            def __getattr__(name):
                return getattr(importlib.import_module(f"toy.low.{_EXPORTS[name]}"), name)
            """,
        "toy/low/impl.py": "def make():\n    from toy.low.user import use\n    return use\n",
        "toy/low/user.py": "from toy.low import make\n\ndef use():\n    return make\n",
    }
    problems = _check(_package(tmp_path, files), dynamic_allowed={"toy.low"})
    assert problems["dynamic"] == []
    assert len(problems["circles"]) == 1
    assert "toy.low.impl -> toy.low.user -> toy.low.impl" in problems["circles"][0]


def test_a_circle_only_under_type_checking_is_no_circle(tmp_path):
    files = {
        "toy/low/t1.py": "from toy.low.t2 import g\n",
        "toy/low/t2.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.low.t1 import x\n"
        ),
    }
    assert _check(_package(tmp_path, files))["circles"] == []


def test_streamlit_inside_a_function_fails(tmp_path):
    problems = _check(
        _package(tmp_path, {"toy/low/ui.py": "def f():\n    import streamlit as st\n"})
    )
    assert problems["forbidden"] == [
        "toy.low.ui -> streamlit (forbidden: streamlit; line 2 (function))"
    ]


def test_a_computed_import_name_fails_outside_the_allowed_modules(tmp_path):
    files = {"toy/low/dyn.py": "import importlib\n\ndef f(n):\n    importlib.import_module(n)\n"}
    assert _check(_package(tmp_path, files))["dynamic"] == [
        "toy.low.dyn line 4: import_module with a computed name"
    ]


def test_a_module_without_a_layer_fails(tmp_path):
    problems = _check(_package(tmp_path, {"toy/extra.py": ""}))
    assert problems["unassigned"] == ["toy.extra"]


def test_allow_listed_problems_pass_and_stale_entries_fail(tmp_path):
    files = {
        "toy/low/up.py": "from toy.high import b\n",
        "toy/low/c1.py": "def f():\n    import toy.low.c2\n",
        "toy/low/c2.py": "import toy.low.c1\n",
    }
    root = _package(tmp_path, files)
    circle = frozenset({"toy.low.c1", "toy.low.c2"})
    problems = _check(root, known_violations={("toy.low.up", "toy.high.b")}, known_circles={circle})
    assert problems["violations"] == [] and problems["circles"] == [] and problems["stale"] == []

    # both get fixed: the entries are now stale, and that fails until they are deleted
    (root / "toy/low/up.py").write_text("from toy.low import a\n")
    (root / "toy/low/c2.py").write_text("")
    problems = _check(root, known_violations={("toy.low.up", "toy.high.b")}, known_circles={circle})
    assert problems["stale"] == [
        "toy.low.up -> toy.high.b no longer occurs: delete it from KNOWN_VIOLATIONS",
        "the circle ['toy.low.c1', 'toy.low.c2'] no longer occurs as listed (now: none); "
        "update KNOWN_CIRCLES",
    ]
