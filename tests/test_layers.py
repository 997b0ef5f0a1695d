"""The import graph of bridge/ keeps the layers docs/architecture.md states, and has no cycle.

Every `import` counts: module level, inside functions and under TYPE_CHECKING. The layer
table is read from docs/architecture.md, so the document and this check cannot disagree.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.paths import REPO

PACKAGE = REPO / "bridge"
_ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*?)\|")


def layers() -> dict[str, int]:
    """Package -> layer number, from the table in docs/architecture.md."""
    found: dict[str, int] = {}
    for line in (REPO / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            for name in re.findall(r"`(bridge[a-z_.]*)`", match.group(2)):
                found[name] = int(match.group(1))
    return found


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(module: str, path: Path, node: ast.AST, known: dict[str, Path]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    else:
        return
    for name in names:
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in known and name != module:
            yield name


def edges() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            graph[module].update(_targets(module, path, node, known))
    return graph


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_package_has_a_layer() -> None:
    table = layers()
    packages = {package_of(m) for m in modules()}
    assert packages - table.keys() == set(), "add the package to docs/architecture.md"


def test_imports_only_go_down() -> None:
    table = layers()
    wrong = sorted(
        f"{a} ({table[package_of(a)]}) imports {b} ({table[package_of(b)]})"
        for a, targets in edges().items()
        for b in targets
        if package_of(a) != package_of(b) and table[package_of(b)] >= table[package_of(a)]
    )
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = edges()
    assert cycles(graph) == []
    packages: dict[str, set[str]] = defaultdict(set)
    for a, targets in graph.items():
        packages[package_of(a)].update(
            package_of(b) for b in targets if package_of(b) != package_of(a)
        )
    assert cycles(packages) == []


def test_the_check_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_hidden_imports() -> None:
    """importlib only loads a package's own modules (bridge.commands finds its sub-commands)."""
    dynamic = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("import_module", "__import__"):
                dynamic.append(module)
    assert dynamic == ["bridge.commands"]
