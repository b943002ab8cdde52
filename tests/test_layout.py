"""The layout is the architecture: data flows one way, source → classify → find → present → cli, and no
module imports another that (directly or not) imports it back. Read from the code's own import lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trialfinder"
STAGES = ("source", "classify", "find", "present", "cli")
LEAVES = ("errors", "labels", "sanitize")  # every stage may read these


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """trialfinder modules imported anywhere in ``path`` (top level or inside functions)."""
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])]) if node.level else node.module
            if target and target.startswith("trialfinder"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("trialfinder"))
    return found


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module: str) -> None:
    stage = _stage(module)
    if stage is None:
        return
    later = set(STAGES[STAGES.index(stage) + 1:])
    backwards = sorted(m for m in GRAPH[module] if _stage(m) in later)
    assert not backwards, f"{module} imports a later stage: {backwards}"


def test_leaves_import_nothing_of_ours() -> None:
    for leaf in LEAVES:
        assert not GRAPH[f"trialfinder.{leaf}"], leaf


def test_no_import_cycles() -> None:
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in GRAPH[node]:
            if seen.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for module in sorted(GRAPH):
        if module not in seen:
            visit(module, [module])
