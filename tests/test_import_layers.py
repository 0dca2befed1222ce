"""The import graph, read with ``ast`` from the source tree: one way up through the layers, and no cycles.

Layers, lowest first (README, "How it fits together"): ``askdocs`` (models, settings) <- ``connectors`` and
``retrieval`` (side by side, neither imports the other) <- ``ingest`` <- ``askdocs.app`` (the composition root)
<- ``eval`` (the harness; never the API) <- ``api`` (only its CLI imports ``eval``) <- ``eval.bench`` (benchmarks of
the whole service, HTTP included; nothing imports them).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("askdocs", "connectors", "ingest", "retrieval", "api", "eval")
LAYERS = {  # module prefix -> rank; the longest matching prefix decides
    "askdocs": 0,
    "connectors": 1,
    "retrieval": 1,
    "ingest": 2,
    "askdocs.app": 3,
    "eval": 4,
    "api": 5,
    "eval.bench": 6,
}
CLI_MODULES = "api.cli"  # only the CLI's modules (api.cli, api.cli_*) may import eval: ``askdocs eval``


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``line``; ``typing_only`` under ``if TYPE_CHECKING:``."""

    source: str
    target: str
    line: int
    typing_only: bool


def canonical(name: str) -> str:
    """``askdocs.ingest.sync`` -> ``ingest.sync``: the stages install under the askdocs namespace (links in
    askdocs/), and the layers are named by their folders."""
    head, _, rest = name.partition(".")
    return rest if head == "askdocs" and rest.split(".")[0] in PACKAGES[1:] else name


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Every module of the six packages, by dotted name."""
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _typing_only_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Edge]:
    """The project modules ``name`` imports, anywhere in the file (inside functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    typing_only = _typing_only_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [canonical(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = canonical(node.module or "")
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target and target not in modules:  # ``import a.b.c`` of a module that is a package attribute
                target = target.rpartition(".")[0]
            if target and target != name:
                yield Edge(name, target, node.lineno, node.lineno in typing_only)


def import_graph() -> list[Edge]:
    modules = project_modules()
    return [edge for name, path in modules.items() for edge in imports_of(name, path, modules)]


def layer(module: str) -> tuple[str, int]:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return prefix, LAYERS[prefix]


def upward_imports(edges: list[Edge]) -> list[str]:
    """Imports from a lower layer to a higher one, or across layers of the same rank."""
    wrong = []
    for edge in edges:
        (source, low), (target, high) = layer(edge.source), layer(edge.target)
        if source == target:
            continue
        if high > low or (high == low and source != target):
            wrong.append(f"{edge.source}:{edge.line} imports {edge.target} ({source} may not import {target})")
        elif target == "eval" and source == "api" and not edge.source.startswith(CLI_MODULES):
            wrong.append(f"{edge.source}:{edge.line} imports {edge.target} (only the API's CLI imports eval)")
    return wrong


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), over the imports that run."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if not edge.typing_only:
            graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_the_tree() -> None:
    """The reader finds the imports it judges (so an empty graph cannot pass the tests below)."""
    edges = {(e.source, e.target) for e in import_graph()}
    assert ("ingest.sync", "connectors.base") in edges and (
        "ingest.sync",
        "retrieval.analyzer",
    ) in edges
    assert ("retrieval.answer", "retrieval.answer.base") in edges, "relative to the package, names resolved"
    assert ("api.deps", "askdocs.app") in edges, "api builds on the composition root"
    assert ("askdocs.app", "ingest.sync") in edges, "the composition root wires the stages"
    assert ("eval.runner", "askdocs.app") in edges and (
        "eval.answers",
        "retrieval.pipeline",
    ) in edges


def test_no_import_goes_up_a_layer() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_catch_what_they_are_for() -> None:
    """A made-up upward import, a sibling import and a cycle are each reported."""
    edges = [
        Edge("retrieval.hybrid", "ingest.sync", 1, False),
        Edge("connectors.base", "retrieval.index", 2, False),
        Edge("eval.runner", "api.app", 3, False),
        Edge("api.routes.ask", "eval.runner", 4, False),
        Edge("api.cli", "eval.runner", 5, False),
        Edge("eval.bench.latency", "api.app", 6, False),
        Edge("ingest.a", "ingest.b", 7, False),
        Edge("ingest.b", "ingest.a", 8, False),
        Edge("ingest.c", "ingest.a", 9, True),
        Edge("ingest.a", "ingest.c", 10, False),
    ]
    wrong = upward_imports(edges)
    assert [w.split(":")[0] for w in wrong] == [
        "retrieval.hybrid",
        "connectors.base",
        "eval.runner",
        "api.routes.ask",
    ]
    assert cycles(edges) == [["ingest.a", "ingest.b"]]
