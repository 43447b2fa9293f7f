"""The import graph of a package, read from its source (no module is executed).

Used by ``tests/test_architecture.py`` to check the layer contract of
``rehab_core`` (issue 11), and by the same file on throw-away packages built in
``tmp_path`` to show that the checks fail when they should.

Every import statement counts, wherever it is written: at module level, inside a
function or method, and inside ``if TYPE_CHECKING:``. Each import is recorded
with where it was found, so a rule can decide what to do with each kind:

* the **layer rules** apply to all three kinds: a type named in a signature is a
  dependency of the design as much as a call is;
* the **circle rule** ignores ``TYPE_CHECKING`` imports, which never run and so
  cannot form a circle at import time; an import inside a function does run
  (later), so it counts.

``importlib.import_module("a.b")`` and ``__import__("a.b")`` with a literal name
count as imports. A package whose ``__init__`` loads names lazily through a
module-level dict of string literals (``{"fit_model": "loop", ...}``, resolved in
``__getattr__``) is resolved through that dict: ``from pkg import fit_model``
depends on ``pkg.loop``, as it does at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Import",
    "ImportGraph",
    "Violation",
    "build_graph",
    "find_circles",
    "layer_violations",
    "forbidden_imports",
    "circle_path",
    "unassigned_modules",
]


@dataclass(frozen=True)
class Import:
    """One import of ``imported`` by module ``importer`` at ``line``."""

    importer: str
    imported: str
    line: int
    in_function: bool = False
    type_checking: bool = False
    internal: bool = True

    @property
    def where(self) -> str:
        kind = "TYPE_CHECKING" if self.type_checking else ("function" if self.in_function else "")
        return f"line {self.line}" + (f" ({kind})" if kind else "")


@dataclass
class ImportGraph:
    """Modules of one package and every import between them (and to the outside)."""

    package: str
    modules: dict[str, Path]
    imports: list[Import] = field(default_factory=list)
    dynamic: list[tuple[str, int]] = field(default_factory=list)
    """``import_module(...)`` / ``__import__(...)`` calls whose name is not a literal."""

    def internal(self, *, runtime_only: bool = False) -> list[Import]:
        return [
            i
            for i in self.imports
            if i.internal and i.importer != i.imported and not (runtime_only and i.type_checking)
        ]

    def edges(self, *, runtime_only: bool = False) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {m: set() for m in self.modules}
        for imp in self.internal(runtime_only=runtime_only):
            out[imp.importer].add(imp.imported)
        return out


@dataclass(frozen=True, order=True)
class Violation:
    """``importer`` imports ``imported`` (at ``lines``) although ``rule`` forbids it."""

    rule: str
    importer: str
    imported: str
    lines: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.importer, self.imported)

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.rule}; {', '.join(self.lines)})"


# --- reading the source -------------------------------------------------------------------------
def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _lazy_exports(tree: ast.Module, package: str, modules: Mapping[str, Path]) -> dict[str, str]:
    """Name -> submodule from a package ``__init__``'s module-level dicts of string literals."""
    exports: dict[str, str] = {}
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if not isinstance(value, ast.Dict) or not value.keys:
            continue
        pairs = list(zip(value.keys, value.values, strict=True))
        if not all(
            isinstance(k, ast.Constant)
            and isinstance(k.value, str)
            and isinstance(v, ast.Constant)
            and isinstance(v.value, str)
            for k, v in pairs
        ):
            continue
        targets = {
            k.value: v.value if v.value in modules else f"{package}.{v.value.lstrip('.')}"
            for k, v in pairs
        }
        if all(t in modules for t in targets.values()):
            exports.update(targets)
    return exports


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, graph: ImportGraph, lazy) -> None:
        self.module = module
        self.is_package = is_package
        self.graph = graph
        self.lazy = lazy
        self.function_depth = 0
        self.type_checking_depth = 0
        self.found: list[Import] = []

    # scopes
    def _visit_function(self, node: ast.AST) -> None:
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_checking_depth += 1
            for stmt in node.body:
                self.visit(stmt)
            self.type_checking_depth -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    # imports
    def _add(self, target: str, line: int) -> None:
        resolved = self._resolve(target)
        internal = resolved is not None
        self.found.append(
            Import(
                importer=self.module,
                imported=resolved if internal else target,
                line=line,
                in_function=self.function_depth > 0,
                type_checking=self.type_checking_depth > 0,
                internal=internal,
            )
        )

    def _resolve(self, name: str) -> str | None:
        """The longest module of the package that ``name`` starts with, or None if external."""
        pkg = self.graph.package
        if name != pkg and not name.startswith(pkg + "."):
            return None
        parts = name.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in self.graph.modules:
                return candidate
            parts.pop()
        return pkg

    def _base(self, level: int, module: str | None) -> str:
        if level == 0:
            return module or ""
        package = self.module if self.is_package else self.module.rpartition(".")[0]
        parts = package.split(".")
        if level > 1:
            parts = parts[: len(parts) - (level - 1)]
        base = ".".join(parts)
        return f"{base}.{module}" if module else base

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._base(node.level, node.module)
        for alias in node.names:
            full = f"{base}.{alias.name}"
            if alias.name != "*" and full in self.graph.modules:
                self._add(full, node.lineno)  # a submodule
                continue
            self._add(base, node.lineno)
            lazy = self.lazy.get(base, {}).get(alias.name)
            if lazy is not None:
                self._add(lazy, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                target = first.value
                if target.startswith("."):  # relative to this module's package
                    level = len(target) - len(target.lstrip("."))
                    target = self._base(level, target.lstrip(".") or None)
                self._add(target, node.lineno)
            else:  # a computed name: the checker cannot follow it
                self.graph.dynamic.append((self.module, node.lineno))
        self.generic_visit(node)


def build_graph(root: str | Path, package: str) -> ImportGraph:
    """Read every ``.py`` file of ``root/package`` and return its import graph.

    Parameters
    ----------
    root : path
        The folder that holds the package (the repository root).
    package : str
        The top-level package name, e.g. ``"rehab_core"``.
    """
    root = Path(root)
    paths = sorted((root / package).rglob("*.py"))
    modules = {_module_name(root, p): p for p in paths}
    graph = ImportGraph(package=package, modules=modules)
    trees = {
        m: ast.parse(p.read_text(encoding="utf-8"), filename=str(p)) for m, p in modules.items()
    }
    lazy = {
        m: _lazy_exports(trees[m], m, modules)
        for m, p in modules.items()
        if p.name == "__init__.py"
    }
    for module, tree in trees.items():
        collector = _Collector(module, modules[module].name == "__init__.py", graph, lazy)
        collector.visit(tree)
        graph.imports.extend(collector.found)
    return graph


# --- rules --------------------------------------------------------------------------------------
def component_of(module: str, components: Mapping[str, str]) -> str | None:
    """The component of ``module``: that of its longest prefix in ``components``.

    The top-level package (a name without a dot) names only its ``__init__``,
    never the whole package, so a module no layer names stays unassigned.
    """
    parts = module.split(".")
    while len(parts) > 1:
        name = ".".join(parts)
        if name in components:
            return components[name]
        parts.pop()
    return components.get(module)


def _components(
    layers: Sequence[Mapping[str, Iterable[str]]],
) -> tuple[dict[str, str], dict[str, int]]:
    """Module prefix -> component name, and component -> layer index (0 lowest)."""
    prefixes: dict[str, str] = {}
    level: dict[str, int] = {}
    for index, layer in enumerate(layers):
        for component, modules in layer.items():
            level[component] = index
            for module in modules:
                prefixes[module] = component
    return prefixes, level


def unassigned_modules(graph: ImportGraph, layers) -> list[str]:
    """Modules that no layer names (each must have one)."""
    prefixes, _ = _components(layers)
    return sorted(m for m in graph.modules if component_of(m, prefixes) is None)


def layer_violations(graph: ImportGraph, layers) -> list[Violation]:
    """Imports that go up a layer or sideways between two components of one layer.

    Parameters
    ----------
    layers : sequence of mappings, lowest layer first
        Each layer maps a component name to the modules (prefixes) it holds,
        e.g. ``[{"base": ["pkg._config"]}, {"io": ["pkg.io"]}, ...]``. Modules of
        one component may import each other; a module may import any component of
        a lower layer; everything else is a violation.
    """
    prefixes, level = _components(layers)
    found: dict[tuple[str, str, str], list[str]] = {}
    for imp in graph.internal():
        a = component_of(imp.importer, prefixes)
        b = component_of(imp.imported, prefixes)
        if a is None or b is None or a == b:
            continue
        if level[b] > level[a]:
            rule = f"upward: {a} (layer {level[a] + 1}) imports {b} (layer {level[b] + 1})"
        elif level[b] == level[a]:
            rule = f"sideways: {a} and {b} share layer {level[a] + 1}"
        else:
            continue
        found.setdefault((rule, imp.importer, imp.imported), []).append(imp.where)
    return sorted(Violation(r, a, b, tuple(dict.fromkeys(w))) for (r, a, b), w in found.items())


def forbidden_imports(graph: ImportGraph, names: Iterable[str]) -> list[Violation]:
    """Imports of the external packages ``names`` (or their submodules), anywhere."""
    names = tuple(names)
    found: dict[tuple[str, str], list[str]] = {}
    for imp in graph.imports:
        if imp.internal:
            continue
        top = imp.imported.split(".")[0]
        if top in names:
            found.setdefault((imp.importer, top), []).append(imp.where)
    return sorted(
        Violation(f"forbidden: {b}", a, b, tuple(dict.fromkeys(w))) for (a, b), w in found.items()
    )


def find_circles(graph: ImportGraph) -> list[frozenset[str]]:
    """Sets of modules that import each other in a circle (strongly connected, 2+ modules).

    ``TYPE_CHECKING`` imports are left out (they never run); imports inside
    functions count.
    """
    edges = graph.edges(runtime_only=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[frozenset[str]] = []
    counter = 0

    # Tarjan's algorithm, iterative (the graph has hundreds of modules)
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                if len(members) > 1:
                    out.append(frozenset(members))
    return sorted(out, key=lambda s: sorted(s))


def circle_path(graph: ImportGraph, members: frozenset[str], start: str | None = None) -> list[str]:
    """One concrete circle through ``start`` (default: the first of ``members``), for messages."""
    edges = graph.edges(runtime_only=True)
    start = min(members) if start is None else start
    # breadth-first search back to start, inside the component
    parents: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if child not in parents:
                parents[child] = node
                queue.append(child)
    return sorted(members)
