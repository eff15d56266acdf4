"""Read the package's source as an AST: its modules, the imports between them (function-local
ones included), the cycles they form, and the calls that touch the file system.

Used by the architecture tests (tests/unit/test_import_cycles.py, test_one_writer.py) and to
measure a tree for docs/architecture.md (`python -m tests.support.codegraph [ROOT]`).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules(root: Path = ROOT, package: str = "workbench") -> dict[str, Path]:
    """Every module of `package` under `root`: dotted name -> file."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def runtime_imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that can run (those under `if TYPE_CHECKING:` never do),
    each with whether it sits inside a function."""

    def walk(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    yield from walk(ast.Module(body=[sub], type_ignores=[]), in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_function
            yield from walk(child, in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    yield from walk(tree, False)


def _targets(node: ast.Import | ast.ImportFrom, here: str, is_package: bool,
             known: dict[str, Path]) -> set[str]:
    """The modules of `known` an import statement loads (the most specific one per name)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            pkg = here.split(".") if is_package else here.split(".")[:-1]
            pkg = pkg[: len(pkg) - (node.level - 1)]
            base = ".".join(pkg + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    out = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            out.add(name)
    return out


def import_graph(root: Path = ROOT, package: str = "workbench") -> dict[str, set[str]]:
    """module -> the package's modules it imports, anywhere in it (not under TYPE_CHECKING)."""
    known = modules(root, package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for mod, path in known.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node, _ in runtime_imports(tree):
            graph[mod] |= _targets(node, mod, path.name == "__init__.py", known) - {mod}
    return graph


def local_imports(root: Path = ROOT, package: str = "workbench") -> dict[str, int]:
    """module -> how many import statements it has inside functions."""
    out = {}
    for mod, path in modules(root, package).items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        n = sum(1 for _, local in runtime_imports(tree) if local)
        if n:
            out[mod] = n
    return out


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other (directly or around a loop), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups, key=lambda g: (-len(g), g))


def a_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """One loop through a strongly connected group, as `a -> b -> ... -> a`."""
    members = set(group)
    start = group[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(graph[path[-1]] & members)
        back = [n for n in nxt if n in seen]
        if back:
            return path[path.index(back[0]):] + [back[0]]
        path.append(nxt[0])
        seen.add(nxt[0])


def elementary_cycles(graph: dict[str, set[str]], limit: int = 10_000) -> int:
    """How many distinct simple loops the graph has (counted up to `limit`)."""
    count = 0
    nodes = sorted(graph)
    order = {n: i for i, n in enumerate(nodes)}
    for start in nodes:
        stack = [(start, iter(sorted(graph[start])), {start})]
        while stack:
            node, it, onpath = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                continue
            if nxt == start:
                count += 1
                if count >= limit:
                    return count
            elif order[nxt] > order[start] and nxt not in onpath:
                stack.append((nxt, iter(sorted(graph[nxt])), onpath | {nxt}))
    return count


def main(argv: list[str]) -> None:
    root = Path(argv[0]) if argv else ROOT
    graph = import_graph(root)
    groups = strongly_connected(graph)
    local = local_imports(root)
    print(f"modules: {len(graph)}")
    print(f"cycle groups: {len(groups)}; elementary cycles: {elementary_cycles(graph)}")
    for g in groups:
        print("  " + " -> ".join(a_cycle(graph, g)) + f"  (group of {len(g)})")
    print(f"function-local imports: {sum(local.values())}")
    for mod, n in sorted(local.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {n:3d} {mod}")


if __name__ == "__main__":
    main(sys.argv[1:])
