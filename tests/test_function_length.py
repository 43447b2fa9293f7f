"""No function over 120 lines outside the tests (issue 11).

A function's length is the span of its body from the first statement after the
docstring to the end of the last one (blank lines and comments inside count,
the signature, decorators and docstring do not). Methods, nested functions and
``async def`` are functions too. A longer one should be split into named steps
(small private helpers in the same module; pure functions on arrays for signal
and image work).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_BODY_LINES = 120


def _sources(root: Path) -> list[Path]:
    """The product's code: the package, the pages and the app (never the tests)."""
    files = sorted((root / "rehab_core").rglob("*.py")) + sorted((root / "pages").rglob("*.py"))
    if (root / "app.py").exists():
        files.append(root / "app.py")
    return files


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of the body, without the docstring."""
    body = node.body
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def long_functions(root: Path, limit: int = MAX_BODY_LINES) -> list[str]:
    """``path:line qualified.name (N lines)`` for every function whose body exceeds ``limit``."""
    found = []
    for path in _sources(root):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found.extend(
            f"{path.relative_to(root)}:{line} {name} ({n} lines)"
            for line, name, n in _walk(tree, "")
            if n > limit
        )
    return found


def _walk(node: ast.AST, prefix: str):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                yield child.lineno, name, body_lines(child)
            yield from _walk(child, name + ".")
        else:
            yield from _walk(child, prefix)


def test_the_walk_reads_the_package_the_pages_and_the_app():
    files = {p.relative_to(REPO).as_posix() for p in _sources(REPO)}
    assert "app.py" in files
    assert "rehab_core/cli.py" in files
    assert any(f.startswith("pages/") for f in files)
    assert not any(f.startswith("tests/") for f in files)


def test_no_function_is_over_120_lines():
    too_long = long_functions(REPO)
    assert not too_long, (
        f"functions whose body (docstring excluded) is over {MAX_BODY_LINES} lines; split each "
        "into named steps: " + "; ".join(too_long)
    )


# --- the checker itself, on a toy tree --------------------------------------------------


def _toy(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def _function(name: str, n_lines: int, *, docstring: bool = False, indent: str = "") -> str:
    doc = f'{indent}    """A docstring\n{indent}    over two lines."""\n' if docstring else ""
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(n_lines))
    return f"{indent}def {name}():\n{doc}{body}"


def test_a_body_of_121_lines_fails_and_120_passes(tmp_path):
    root = _toy(
        tmp_path,
        {
            "rehab_core/a.py": _function("short", 120) + "\n\n" + _function("long", 121),
            "pages/p.py": "",
        },
    )
    assert long_functions(root) == ["rehab_core/a.py:124 long (121 lines)"]


def test_the_docstring_does_not_count(tmp_path):
    root = _toy(tmp_path, {"rehab_core/a.py": _function("documented", 120, docstring=True)})
    assert long_functions(root) == []


def test_methods_nested_and_async_functions_in_pages_and_app_are_checked(tmp_path):
    method = "class Model:\n" + _function("fit", 121, indent="    ")
    nested = "def outer():\n" + _function("inner", 121, indent="    ").replace(
        "def inner", "async def inner"
    )
    root = _toy(
        tmp_path,
        {"rehab_core/m.py": method, "pages/1_p.py": nested, "app.py": _function("main", 121)},
    )
    assert long_functions(root) == [
        "rehab_core/m.py:2 Model.fit (121 lines)",
        "pages/1_p.py:1 outer (122 lines)",  # its body holds the long one
        "pages/1_p.py:2 outer.inner (121 lines)",
        "app.py:1 main (121 lines)",
    ]


def test_the_tests_are_not_checked(tmp_path):
    root = _toy(tmp_path, {"tests/test_x.py": _function("test_long", 200)})
    assert long_functions(root) == []
