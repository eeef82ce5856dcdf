"""The project's import graph: no circle between files, and the rooms of render/ import one way."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGES = ("render", "depth", "flow", "audio", "transforms", "benchmarks")
# The order data flows in; a room may import only rooms before it (render/user_error.py, the base of every named
# error, is first: every room raises them) (render/app.py, render/builders.py and
# render/errors.py, the recipe, what it builds and how its failures are reported, may import any room; the studio,
# a server on top of the whole renderer, comes after them).
ROOM_ORDER = ("render.user_error", "render.disk", "render.models", "transforms", "audio", "depth", "flow",
              "render.diffusion", "render.guidance", "render.config", "render.modes", "render.generators", "render.run",
              "render.output", "render.interop", "render", "main", "render.studio", "benchmarks")


def project_modules() -> dict[str, Path]:
    """Every Python module of the project by dotted name (packages by their ``__init__``), plus ``main``."""
    modules = {"main": ROOT / "main.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _targets(node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The project modules one import statement loads: a submodule when the name is one, else the module."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    base = node.module or ""
    if node.level:
        anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join(anchor + ([base] if base else []))
    out = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            out.add(f"{base}.{alias.name}")
        elif base in modules:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> project modules it imports, counting imports inside functions and ``if TYPE_CHECKING`` blocks too
    (an import that dodges a circle by hiding in a function is still a circle)."""
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _targets(node, name, is_package, modules)
        graph[name] = edges - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
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


def room_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "render" and len(parts) > 2:
        return ".".join(parts[:2])
    if parts[0] == "render" and len(parts) == 2 and parts[1] in ("app", "builders", "errors"):
        return "render"
    return parts[0] if parts[0] != "render" else module


def test_no_import_circle_between_files():
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_circle_finder_finds_circles():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_rooms_import_one_way():
    """Each room imports only rooms earlier in the flow config -> plan -> modes/generators -> run -> output."""
    rank = {room: i for i, room in enumerate(ROOM_ORDER)}
    wrong = []
    for module, targets in import_graph().items():
        if module == "main":
            continue
        here = room_of(module)
        assert here in rank, f"{module} is in no room of ROOM_ORDER ({here})"
        for target in targets:
            there = room_of(target)
            if there != here and rank[there] > rank[here]:
                wrong.append(f"{module} ({here}) imports {target} ({there})")
    assert not wrong, "imports against the flow:\n" + "\n".join(sorted(wrong))


def test_render_top_level_is_small():
    entries = [p.name for p in (ROOT / "render").iterdir() if p.name != "__pycache__"]
    modules = [e for e in entries if e.endswith(".py")]
    assert len(modules) <= 8, modules


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_has_a_docstring(package):
    missing = [str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py")
               if ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None]
    assert not missing, missing


def test_modes_forward_no_attributes():
    """A mode wrapper says what it passes on (the AnimationMode protocol); nothing reaches the inner mode through
    attribute forwarding."""
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "render" / "modes").rglob("*.py")
             if "__getattr__" in p.read_text(encoding="utf-8")]
    assert not found, found
