"""The layers of the house: imports flow one way, with no cycles and nothing deferred to dodge one.

The import graph is read from the source (module-level imports, ``if TYPE_CHECKING`` blocks
included, since a cycle hidden there is still a cycle), so these tests need no model and no
working engine. :data:`LAYERS` is the order, top first: a module may import its own unit and
the units below it, never one above or beside it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "ponder"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("serve",),
    ("__init__",),  # the package itself: the library's front door (ponder.solve, ponder.route, ...)
    ("view",),  # the trace viewer: results and the bench store as HTML pages
    ("tune",),  # ponder tune: architecture search over the bench runner, with a reusable holdout
    ("bench",),
    ("api",),
    ("memory",),  # concept memory across questions (ArcMemo)
    ("registry",),
    ("pipelines",),
    ("strategies",),
    ("routing",),
    ("search",),
    ("context",),
    ("verifiers",),
    ("scorers",),
    ("answers",),
    ("engines", "sandbox", "logic", "analysis"),
    ("core",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
OURS = sorted(MODULES)


def unit(name: str) -> str:
    """The top-level unit a module belongs to (``ponder.core.ledger`` -> ``core``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


RANK = {member: rank for rank, layer in enumerate(LAYERS) for member in layer}


def below(name: str, target: str) -> bool:
    """Whether module ``name`` may import ``target``: its own unit, or one in a lower layer."""
    return unit(target) == unit(name) or RANK[unit(target)] > RANK[unit(name)]


def resolve(node: ast.ImportFrom, here: str) -> list[str]:
    """The ponder modules a ``from ... import ...`` names (a package, or its submodules)."""
    if node.level:
        package = here if MODULES[here].name == "__init__.py" else here.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        source = f"{package}.{node.module}" if node.module else package
    else:
        source = node.module or ""
    found = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in MODULES]
    return found or ([source] if source in MODULES else [])


def top_level_imports(name: str) -> set[str]:
    """The ponder modules ``name`` imports outside functions (parent packages other than the root
    included, as Python imports them first)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in MODULES)
            elif isinstance(node, ast.ImportFrom):
                found.update(resolve(node, name))
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    with_parents = set(found)
    for target in found:
        parts = target.split(".")
        with_parents.update(".".join(parts[:i]) for i in range(2, len(parts)))
    # a module's own packages are already being imported when it runs: not an edge
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {target for target in with_parents - own if target != name and target in MODULES}


def cycles_through(names: list[str]) -> list[list[str]]:
    """Strongly connected components (size > 1) of the ponder import graph that hold one of ``names``."""
    graph = {name: top_level_imports(name) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(MODULES)))
    try:
        for name in graph:
            if name not in index:
                connect(name)
    finally:
        sys.setrecursionlimit(limit)
    return [c for c in components if set(c) & set(names)]


def test_there_are_no_import_cycles() -> None:
    assert cycles_through(OURS) == []


def test_every_unit_has_a_layer() -> None:
    assert {unit(name) for name in MODULES} <= set(RANK), "add the new unit to LAYERS"


def test_imports_flow_down_the_layers() -> None:
    """A module imports its own unit or units in lower layers; never one above it or beside it."""
    wrong = sorted(
        f"{name} -> {target}" for name in OURS for target in top_level_imports(name) if not below(name, target)
    )
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", OURS)
def test_no_ponder_import_is_deferred_into_a_function(name: str) -> None:
    """A function may import lazily what it could import at the top (its own unit, or a lower
    layer: an engine's heavy backend, the server's optional web framework); never a unit above
    or beside it, which would hide an edge that the layer order forbids."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    deferred = [
        f"line {inner.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(node)
        if (isinstance(inner, ast.ImportFrom) and any(not below(name, t) for t in resolve(inner, name)))
        or (isinstance(inner, ast.Import) and any(a.name in MODULES and not below(name, a.name) for a in inner.names))
    ]
    assert not deferred, f"{name} imports a unit above or beside it inside a function at {', '.join(deferred)}"


def test_no_type_checking_guard_hides_a_ponder_import() -> None:
    """``if TYPE_CHECKING`` may hold third-party imports (matplotlib, lazily imported) and its own
    unit's (a lazily loaded backend's types), never another unit of ponder."""
    for name in OURS:
        for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                hidden = [
                    ast.unparse(n)
                    for n in node.body
                    if "ponder" in ast.unparse(n) and f"ponder.{unit(name)}" not in ast.unparse(n)
                ]
                assert not hidden, f"{name}: {hidden}"


@pytest.mark.parametrize(
    "first",
    [
        "ponder.core.ledger",
        "ponder.engines.registry",
        "ponder.answers",
        "ponder.scorers.prm",
        "ponder.context",
        "ponder.search.expand",
        "ponder.strategies.base",
        "ponder.routing",
        "ponder.pipelines.config",
        "ponder.registry",
        "ponder.api",
        "ponder.bench.types",
        "ponder.bench.report",
        "ponder.bench.route_search",
        "ponder.serve.app",
        "ponder.cli.main",
    ],
)
def test_each_module_imports_first_in_a_fresh_interpreter(first: str) -> None:
    """Importing a module first (before anything else of ponder is loaded) works: a cycle hidden
    by import order would fail here."""
    code = f"import {first}; import ponder; assert ponder.route is ponder.bench.route_search.route"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
