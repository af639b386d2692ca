"""No import cycles between faceaudit's modules.

A cycle makes what works depend on which module happens to be imported first, and ties
modules that should be separable (the CLI and its stage commands, models and evaluate). The
graph is read statically from every module's top-level imports (imports inside functions
are deliberate lazy loads, ``if TYPE_CHECKING:`` blocks never run); a package's
``__init__`` counts as a module, and importing ``a.b`` imports ``a`` first.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests_support import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "faceaudit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    # Imports inside functions (methods included) run on first call, not at import time:
    # deliberate lazy loads, which cannot take part in an import cycle.
    lazy = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only or id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges = set()
        for target in _imports(tree, name, path.name == "__init__.py"):
            # importing a.b.c runs a, a.b and a.b.c
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                    edges.add(prefix)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
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
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_checker_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_faceaudit_has_no_import_cycles() -> None:
    graph = import_graph()
    assert "faceaudit.cli" in graph and "faceaudit.models.transport" in graph
    assert cycles(graph) == []


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each module imports first, on its own: no hidden dependence on import order."""
    names = sorted(n for n in import_graph() if not n.endswith("__main__"))
    script = (
        "import importlib, sys\nfor name in sys.argv[1:]:\n    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n    for m in set(sys.modules) - before:\n"
        "        if m.startswith('faceaudit'): del sys.modules[m]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *names], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_imports_inside_functions_are_lazy_and_do_not_count() -> None:
    tree = ast.parse("import a\n\nclass C:\n    def m(self):\n        import b\n\ndef f():\n    from c import d\n")
    assert _imports(tree, "x", False) == {"a"}
