"""The package's shape: imports run one way (core <- presentation, both <- study), no cycles, small modules.

The import graph is read from the source (ast), so the test sees imports inside functions too.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "aelib"
MAX_LINES = 600

BASE = {"aelib", "aelib._quiet", "aelib.checks", "aelib.io"}
#: presentation: takes DataFrames and paths, draws and writes; never the study, never TensorFlow
PRESENTATION = ("aelib.report", "aelib.findings", "aelib.latex", "aelib.plots", "aelib.criteria")
STUDY = ("aelib.study",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(name: str) -> str:
    if name in BASE:
        return "base"
    if _within(name, STUDY):
        return "study"
    if _within(name, PRESENTATION):
        return "presentation"
    return "core"


def import_graph() -> dict[str, set[str]]:
    """module → the aelib modules it imports (``from aelib import x`` counts as importing ``aelib.x``)."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("aelib"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if not module.startswith("aelib"):
                    continue
                for alias in node.names:  # `from aelib import plots` imports the module aelib.plots
                    sub = f"{module}.{alias.name}"
                    targets.add(sub if sub in modules else module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _unit(name: str) -> str:
    """The unit cycles are checked between: a top-level module, or a subpackage of aelib (aelib.x),
    or a subpackage of aelib.study / aelib.metrics (aelib.study.steps), else its module."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


def test_core_never_imports_study_or_presentation():
    bad = [f"{m} imports {t} ({_layer(t)})" for m, targets in import_graph().items() for t in targets
           if _layer(m) in ("base", "core") and _layer(t) in ("study", "presentation")]
    assert not bad, "core must not import study or presentation code:\n" + "\n".join(sorted(bad))


def test_base_imports_only_base():
    bad = [f"{m} imports {t}" for m, targets in import_graph().items() for t in targets
           if _layer(m) == "base" and _layer(t) != "base"]
    assert not bad, "\n".join(sorted(bad))


def test_presentation_never_imports_the_study_or_tensorflow_code():
    heavy = ("aelib.models", "aelib.training", "aelib.data", "aelib.augmentation", "aelib.metrics.projection")
    plain = ("aelib.data.catalog",)  # plain facts (the data sets' titles), no loading
    bad = [f"{m} imports {t}" for m, targets in import_graph().items() for t in targets
           if _layer(m) == "presentation" and (_layer(t) == "study" or (_within(t, heavy) and t not in plain))]
    assert not bad, "presentation takes DataFrames; it must not import:\n" + "\n".join(sorted(bad))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_between_top_level_modules_and_subpackages():
    edges: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        source = _unit(module)
        edges.setdefault(source, set()).update(_unit(t) for t in targets if _unit(t) != source)
    edges.pop("aelib", None)  # the package's own __init__ imports nothing of aelib
    assert not _cycles(edges), f"import cycles: {_cycles(edges)}"


def test_no_import_cycles_between_modules():
    graph = import_graph()
    cycles = _cycles({m: {t for t in targets if t != "aelib"} for m, targets in graph.items()})
    assert not cycles, f"import cycles between modules: {cycles}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_is_under_the_line_limit():
    long = {str(p.relative_to(ROOT.parent)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text().splitlines())) >= MAX_LINES}
    assert not long, f"modules of {MAX_LINES} lines or more (split them along their seams): {long}"


@pytest.mark.parametrize("module", ["aelib.plots", "aelib.latex", "aelib.findings", "aelib.report", "aelib.families"])
def test_presentation_imports_without_tensorflow(module):
    code = f"import sys, {module}; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"], f"import {module} loads TensorFlow/Keras"
