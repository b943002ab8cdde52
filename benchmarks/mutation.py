"""Mutation run: how many small, deliberate bugs in the core modules the fast tests catch.

    .venv/bin/python benchmarks/mutation.py                        # all five modules
    .venv/bin/python benchmarks/mutation.py filters store           # some of them
    .venv/bin/python benchmarks/mutation.py client --sample 150     # a deterministic sample
    .venv/bin/python benchmarks/mutation.py --list export           # print the mutants, run nothing
    .venv/bin/python benchmarks/mutation.py --survivors out.txt     # also write the survivors' keys

Why our own mutator and not mutmut 3: mutmut 3 mutates only the bodies of functions, so the
module-level tables that hold behaviour here (the ``FILTERS`` lambdas, where ``updated`` and ``sex``
live; ``FORMULA_START``, ``COLUMNS``, ``DOMINANCE``) are never mutated; its mutants are numbered per
function, so a list of equivalent mutants breaks whenever a function changes; and marking one
equivalent means a ``# pragma: no mutate`` in the source of files that other people are editing.
This script is small, keys each mutant by what it changes (stable under unrelated edits), and keeps
the equivalent ones in one reviewed file, ``benchmarks/mutation-equivalent.txt``.

How it works (one pytest session, forked per mutant; 2 cores are enough):

1. pytest collects the FAST test files (below) once, in this process, which imports the package.
2. A forked child runs every collected test once, tracing which lines of the five modules each test
   executes. Only tests that pass here are used.
3. Each mutant is one change to one node of a module's syntax tree (operators below). A forked child
   applies it to the already imported module — the changed function's ``__code__`` and defaults are
   swapped in place, so every reference to the function sees it; a changed module-level statement
   is re-run and its names rebound wherever they were imported — then runs, in order, only the tests
   that executed a line of the changed node (all tests reaching the module, for a module-level
   statement), stopping at the first failure. A failure, an error or a time-out kills the mutant.
4. Per module: mutants, equivalent (listed in the ignore file), killed, survived (reached by tests
   that all still pass), unreached (no fast test executes the line); kill rate = killed / (mutants -
   equivalent). Unreached mutants count as survivors.

Operators: comparison (< <=, > >=, == !=, in / not in, is / is not), arithmetic and bitwise
(+ -, * /, // /, % *, | &), and/or, dropping ``not`` and unary minus, constants (True/False, n ->
n + 1, 'x' -> 'XXxXX', b'x' likewise), ``return x`` -> ``return None``, and a statement that is a
bare call (``handle.flush()``) -> ``pass``. Not mutated: docstrings, annotations, imports, decorators,
class-level attributes (dataclass fields), ``__all__``.

Sampling (``--sample N``): the N mutants of each module whose key has the smallest SHA-1, the same
every run for the same source. Tests that start subprocesses of the package (none of the FAST files
below do so for these modules) would not see a mutant.
"""

from __future__ import annotations
import __future__

import argparse
import ast
import copy
import fnmatch
import hashlib
import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = Path(__file__).resolve().parent / "mutation-equivalent.txt"
OUT = Path(__file__).resolve().parent / "out"  # git-ignored: the cached baseline and the last run's log

MODULES = {  # short name -> module
    "filters": "trialfinder.find.filters",
    "store": "trialfinder.source.store",
    "export": "trialfinder.find.export",
    "places": "trialfinder.find.places",
    "client": "trialfinder.source.client",
}
#: the fast test files (no chaos, kill, browser, fault-matrix, Hypothesis-property or lint/type suites);
#: each mutant runs only the tests among these that execute its line
FAST = [
    "tests/test_boundaries_filters.py", "tests/test_boundaries_store.py", "tests/test_boundaries_export.py",
    "tests/test_boundaries_places.py", "tests/test_boundaries_client.py",
    "tests/test_store.py", "tests/test_client.py", "tests/test_export_golden.py", "tests/test_places.py",
    "tests/test_tables.py", "tests/test_tablecache.py", "tests/test_urlstate.py", "tests/test_normalize.py",
    "tests/test_cli.py", "tests/test_bounds.py",
]
#: places: what the tables are built by (they are built once before forking, and rebuilt in a child
#: whose mutant is in one of these or at module level, so that build and look-up use the same code)
PLACES_BUILD = {"_norm", "_build_cities", "_build_alternates", "_build_countries", "_build_us_states",
                "_build_zip_table", "_data", "_cities", "_alternates", "_countries", "_us_states", "_zip_table",
                "load_index", "_index_key"}

COMPARE_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
              ast.Mod: ast.Mult, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr, ast.Pow: ast.Mult}
SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
          ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
          ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.BitOr: "|", ast.BitAnd: "&", ast.Pow: "**",
          ast.And: "and", ast.Or: "or"}


# --- mutants --------------------------------------------------------------------------------------

@dataclass
class Mutant:
    module: str  # short name
    key: str  # '<scope>: <change> in `<source>`' (+ ' #n' for a repeat): what the ignore file names
    stmt: int  # index of the top-level statement it changes
    path: tuple[tuple[str, int | None], ...]  # from that statement to the node
    replacement: ast.AST | None  # None: the node's own mutation is applied by _mutate_node
    lines: tuple[int, int]
    scope: str  # qualified name of the enclosing def ('<module>' outside any)
    in_body: bool  # inside a function or lambda body (so line tracing tells which tests reach it)
    status: str = ""
    tests: list[str] = field(default_factory=list)
    killer: str = ""  # the test that failed first


def _short(node: ast.AST, source: str) -> str:
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= 70 else text[:67] + "..."


def _changes(node: ast.AST, parent: ast.AST | None) -> Iterator[tuple[str, ast.AST]]:
    """(description, replacement node) for each mutation of ``node`` itself."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in COMPARE_SWAP:
                new = copy.deepcopy(node)
                new.ops[i] = COMPARE_SWAP[type(op)]()
                yield f"{SYMBOL[type(op)]} -> {SYMBOL[type(new.ops[i])]}", new
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP_SWAP:
        new = copy.deepcopy(node)
        new.op = BINOP_SWAP[type(node.op)]()
        yield f"{SYMBOL[type(node.op)]} -> {SYMBOL[type(new.op)]}", new
    elif isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield f"{SYMBOL[type(node.op)]} -> {SYMBOL[type(new.op)]}", new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        yield f"drop {'not' if isinstance(node.op, ast.Not) else 'unary -'}", copy.deepcopy(node.operand)
    elif isinstance(node, ast.Constant):
        yield from _constant_changes(node, parent)
    elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        yield "return None", ast.Return(value=ast.Constant(value=None))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "call -> pass", ast.Pass()


def _constant_changes(node: ast.Constant, parent: ast.AST | None) -> Iterator[tuple[str, ast.AST]]:
    value = node.value
    if isinstance(value, bool):
        yield f"{value} -> {not value}", ast.Constant(value=not value)
    elif isinstance(value, (int, float)) and not isinstance(parent, ast.FormattedValue):
        yield f"{value!r} -> {value + 1!r}", ast.Constant(value=value + 1)
    elif isinstance(value, str) and not isinstance(parent, ast.FormattedValue):
        yield "string -> 'XX..XX'", ast.Constant(value=f"XX{value}XX")
    elif isinstance(value, bytes):
        yield "bytes -> b'XX..XX'", ast.Constant(value=b"XX" + value + b"XX")


def _is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            and isinstance(parent, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)))


SKIP_FIELDS = {"annotation", "returns", "decorator_list", "type_comment"}


def _walk(node: ast.AST, path: tuple, scope: str, in_body: bool,
          parent: ast.AST | None) -> Iterator[tuple[ast.AST, ast.AST | None, tuple, str, bool]]:
    """(node, parent, path, scope, in_body) for every node under ``node`` that may be mutated."""
    yield node, parent, path, scope, in_body
    if isinstance(node, ast.ClassDef):  # its methods only, not class-level attributes
        for k, stmt in enumerate(node.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from _walk(stmt, path + (("body", k),), _join(scope, node.name), in_body, node)
        return
    for name, value in ast.iter_fields(node):
        if name in SKIP_FIELDS:
            continue
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, child in items:
            if not isinstance(child, ast.AST) or _is_docstring(child, node):
                continue
            child_scope, child_body = scope, in_body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name == "body":
                child_scope, child_body = _join(scope, node.name), True
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name == "args":
                child_scope = _join(scope, node.name) + " defaults"  # evaluated once, where the def runs
            elif isinstance(node, ast.Lambda) and name == "body":
                child_body = True
            yield from _walk(child, path + ((name, index),), child_scope, child_body, node)


def _join(scope: str, name: str) -> str:
    return name if scope == "<module>" or scope.endswith(" =") else f"{scope}.{name}"


def _skip_statement(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return True
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)


def mutants_of(short: str, path: Path) -> list[Mutant]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    found: list[Mutant] = []
    seen: dict[str, int] = {}
    in_raise = {id(n) for r in ast.walk(tree) if isinstance(r, ast.Raise) for n in ast.walk(r)}
    for index, stmt in enumerate(tree.body):
        if _skip_statement(stmt) or _is_docstring(stmt, tree):
            continue
        label = _label(stmt)
        for node, parent, node_path, scope, in_body in _walk(stmt, (), label, False, tree):
            if isinstance(node, ast.ClassDef):
                continue
            for change, replacement in _changes(node, parent):
                if change.startswith("string") and id(node) in in_raise:
                    change = "message text" + change.removeprefix("string")  # the words of an exception
                key = f"{scope}: {change} in `{_short(node, source)}`"
                if isinstance(node, ast.Constant) and isinstance(parent, (ast.expr, ast.keyword)):
                    key += f" of `{_short(parent, source)}`"
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > 1:
                    key += f" #{seen[key]}"
                lines = (node.lineno, getattr(node, "end_lineno", None) or node.lineno)
                found.append(Mutant(short, key, index, node_path, replacement, lines,
                                    _top_name(stmt, scope), in_body))
    return found


def _label(stmt: ast.stmt) -> str:
    """The scope named in the keys of a module-level statement's mutants: 'COLUMNS =' for an assignment."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    return f"{', '.join(names)} =" if names else "<module>"


def _top_name(stmt: ast.stmt, scope: str) -> str:
    """The top-level function or class a mutant is in ('<module>' for a module-level statement)."""
    return stmt.name if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else "<module>"


def load_equivalent(path: Path = EQUIVALENT) -> list[tuple[str, str, str]]:
    """(module, key pattern, reason) per line 'module | key | reason'; '#' starts a comment line."""
    rules = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        module, _, rest = line.partition(" | ")
        key, _, reason = rest.rpartition(" | ")
        if not module or not key or not reason.strip():
            raise SystemExit(f"{path}:{number}: want 'module | mutant key | reason'")
        rules.append((module.strip(), key.strip(), reason.strip()))
    return rules


def is_equivalent(mutant: Mutant, rules: list[tuple[str, str, str]]) -> bool:
    return any(fnmatch.fnmatchcase(mutant.module, m) and (k == mutant.key or fnmatch.fnmatchcase(mutant.key, k))
               for m, k, _ in rules)


def sample(mutants: list[Mutant], n: int | None) -> list[Mutant]:
    if n is None or len(mutants) <= n:
        return mutants
    ranked = sorted(mutants, key=lambda m: hashlib.sha1(m.key.encode()).hexdigest())[:n]
    chosen = {id(m) for m in ranked}
    return [m for m in mutants if id(m) in chosen]


def _reach(mutant: Mutant, tree: ast.Module) -> set[int]:
    """The lines whose execution means a test can see the mutant: the changed node's own lines in a
    function or lambda body; for a default value, the function's body; for any other module-level
    statement, the bodies of the functions (and lambdas) that read the names it binds."""
    if mutant.in_body:
        return set(range(mutant.lines[0], mutant.lines[1] + 1))
    stmt = tree.body[mutant.stmt]
    if isinstance(stmt, ast.ClassDef):  # a method's default value
        stmt = stmt.body[mutant.path[0][1] or 0]
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set(range(stmt.body[0].lineno, (stmt.end_lineno or stmt.lineno) + 1))
    bound = {t.id for t in ast.walk(stmt) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
    lines: set[int] = set()
    for scope in ast.walk(tree):
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if any(isinstance(n, ast.Name) and n.id in bound for n in ast.walk(scope)):
                lines |= set(range(scope.lineno, (scope.end_lineno or scope.lineno) + 1))
    return lines


def _bound(mutant: Mutant, tree: ast.Module) -> set[str]:
    """The names a module-level statement (not a def or class) binds: 'FILTERS', 'COLUMNS'."""
    stmt = tree.body[mutant.stmt]
    if mutant.in_body or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return set()
    return {t.id for t in ast.walk(stmt) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}


def _rebuilds_places(mutant: Mutant) -> bool:
    return mutant.module == "places" and (mutant.scope in PLACES_BUILD or mutant.scope == "<module>")


def _source(item: Any) -> str:
    import inspect

    try:
        return inspect.getsource(item.obj)
    except (OSError, TypeError, AttributeError):
        return ""


# --- applying a mutant in a child -----------------------------------------------------------------

def _mutated_statement(mutant: Mutant, tree: ast.Module) -> ast.stmt:
    stmt = copy.deepcopy(tree.body[mutant.stmt])
    holder: Any = stmt
    for name, index in mutant.path[:-1]:
        holder = getattr(holder, name) if index is None else getattr(holder, name)[index]
    if not mutant.path:
        return mutant.replacement  # type: ignore[return-value]
    name, index = mutant.path[-1]
    replacement = copy.copy(mutant.replacement)
    ast.copy_location(replacement, getattr(holder, name) if index is None else getattr(holder, name)[index])
    if index is None:
        setattr(holder, name, replacement)
    else:
        getattr(holder, name)[index] = replacement
    return ast.fix_missing_locations(stmt)


def _unwrap(obj: Any) -> Any:
    while hasattr(obj, "__wrapped__"):
        obj = obj.__wrapped__
    return obj


def _transplant(live: Any, new: Any) -> None:
    """Give the live function the new one's code and defaults (every reference then runs the mutant)."""
    if isinstance(live, (staticmethod, classmethod)):
        live, new = live.__func__, new.__func__
    if isinstance(live, property):
        for part in ("fget", "fset", "fdel"):
            if getattr(live, part) is not None:
                _transplant(getattr(live, part), getattr(new, part))
        return
    if hasattr(live, "cache_clear"):
        live.cache_clear()
    live, new = _unwrap(live), _unwrap(new)
    if hasattr(live, "__code__"):
        live.__code__ = new.__code__
        live.__defaults__ = new.__defaults__
        live.__kwdefaults__ = new.__kwdefaults__


def apply(mutant: Mutant, module: Any, tree: ast.Module) -> None:
    stmt = _mutated_statement(mutant, tree)
    code = compile(ast.Module(body=[stmt], type_ignores=[]), module.__file__, "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    namespace = dict(module.__dict__)
    exec(code, namespace)  # noqa: S102 (the module's own statement, mutated)
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        _transplant(module.__dict__[stmt.name], namespace[stmt.name])
    elif isinstance(stmt, ast.ClassDef):
        live_cls, new_cls = module.__dict__[stmt.name], namespace[stmt.name]
        for method in stmt.body:  # the methods written in the class, not those dataclass generates
            if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                _transplant(vars(live_cls)[method.name], vars(new_cls)[method.name])
    else:
        _rebind(module, namespace)


def _rebind(module: Any, namespace: dict[str, Any]) -> None:
    """A re-run module-level statement: its new values replace the old ones in this module and in
    every module that imported them by the same name."""
    for name, value in namespace.items():
        old = module.__dict__.get(name, value)
        if old is value:
            continue
        for other in list(sys.modules.values()):
            if getattr(other, "__dict__", {}).get(name) is old:
                other.__dict__[name] = value


# --- running --------------------------------------------------------------------------------------

class Tracer:
    """Which lines of the target files each test executes."""

    def __init__(self, files: dict[str, str]):
        self.files = files  # filename -> short module name
        self.hits: set[tuple[str, int]] = set()

    def global_trace(self, frame: Any, event: str, arg: Any) -> Any:
        short = self.files.get(frame.f_code.co_filename)
        if short is None:
            return None
        self.hits.add((short, frame.f_lineno))
        return self.local_trace

    def local_trace(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            self.hits.add((self.files[frame.f_code.co_filename], frame.f_lineno))
        return self.local_trace


def _quiet() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _run_items(items: list[Any], stop_at_failure: bool, tracer: Tracer | None = None) -> dict[str, Any]:
    from _pytest.runner import runtestprotocol

    outcome: dict[str, Any] = {}
    for k, item in enumerate(items):
        if tracer is not None:
            tracer.hits = set()
            sys.settrace(tracer.global_trace)
            threading.settrace(tracer.global_trace)
        start = time.perf_counter()
        reports = runtestprotocol(item, nextitem=items[k + 1] if k + 1 < len(items) else None, log=False)
        if tracer is not None:
            sys.settrace(None)
            threading.settrace(None)  # type: ignore[arg-type]
        failed = any(r.failed for r in reports)
        outcome[item.nodeid] = (failed, time.perf_counter() - start, tracer.hits if tracer else set())
        if failed and stop_at_failure:
            break
    return outcome


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:20]


def baseline(items: list[Any], files: dict[str, str]) -> dict[str, Any]:
    """Run the tests once in a child, tracing; return nodeid -> (failed, seconds, lines hit).

    Kept in benchmarks/out/ (git-ignored) per test file: the next run traces again only the test
    files that changed, or all of them when the package or a test helper (conftest, apiserver, ...) did."""
    OUT.mkdir(exist_ok=True)
    store = OUT / "mutation-baseline.pkl"
    shared = _digest([*ROOT.glob("trialfinder/**/*.py"), *ROOT.glob("trialfinder/**/*.csv"),
                      *(p for p in ROOT.glob("tests/*.py") if not p.name.startswith("test_"))])
    cache = pickle.loads(store.read_bytes()) if store.exists() else {}
    if cache.get("shared") != shared:
        cache = {"shared": shared, "files": {}}
    by_file: dict[str, list[Any]] = {}
    for item in items:
        by_file.setdefault(str(item.path), []).append(item)
    stale = [f for f, mine in by_file.items()
             if cache["files"].get(f, ("", {}))[0] != _digest([Path(f)])
             or not {i.nodeid for i in mine} <= set(cache["files"][f][1])]
    if stale:
        todo = [i for f in stale for i in by_file[f]]
        print(f"baseline: tracing {len(todo)} tests of {len(stale)} files ...", file=sys.stderr, flush=True)
        out = OUT / "mutation-baseline.tmp"
        pid = os.fork()
        if pid == 0:
            try:
                _quiet()
                out.write_bytes(pickle.dumps(_run_items(todo, stop_at_failure=False, tracer=Tracer(files))))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        result = pickle.loads(out.read_bytes())
        out.unlink()
        for f in stale:
            cache["files"][f] = (_digest([Path(f)]), {i.nodeid: result[i.nodeid] for i in by_file[f]})
        store.write_bytes(pickle.dumps(cache))
    return {i.nodeid: cache["files"][str(i.path)][1][i.nodeid] for i in items}


def _child(mutant: Mutant, items: list[Any], trees: dict[str, ast.Module]) -> None:
    import importlib

    _quiet()
    try:
        module = importlib.import_module(MODULES[mutant.module])
        apply(mutant, module, trees[mutant.module])
        if _rebuilds_places(mutant):
            module._DATA.clear()
    except BaseException:
        os._exit(3)  # the mutant cannot even be loaded: the package would not import
    try:
        outcome = _run_items(items, stop_at_failure=True)
    except BaseException:
        os._exit(4)  # pytest itself failed: counted as killed, logged as "error"
    failed = [k for k, (bad, _, _) in enumerate(outcome.values()) if bad]
    os._exit(0 if not failed else 10 + failed[0] if failed[0] < 240 else 1)  # which test killed it


def run_mutants(mutants: list[Mutant], items_by_id: dict[str, Any], timing: dict[str, float],
                trees: dict[str, ast.Module], jobs: int, progress: bool, log: Any = None) -> None:
    pending = [m for m in mutants if m.status == ""]
    kills: dict[str, int] = {}  # tests that killed mutants so far are tried first: most mutants die at once
    running: dict[int, tuple[Mutant, float]] = {}
    started: dict[int, float] = {}
    done = 0
    while pending or running:
        while pending and len(running) < jobs:
            mutant = pending.pop(0)
            mutant.tests.sort(key=lambda t: (-kills.get(t, 0), timing[t]))
            items = [items_by_id[t] for t in mutant.tests]
            deadline = time.monotonic() + 30 + 4 * sum(timing[t] for t in mutant.tests)
            pid = os.fork()
            if pid == 0:
                _child(mutant, items, trees)
            running[pid] = (mutant, deadline)
            started[pid] = time.monotonic()
        time.sleep(0.02)
        for pid, (mutant, deadline) in list(running.items()):
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished == 0 and time.monotonic() < deadline:
                continue
            if finished == 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                mutant.status = "killed"  # timed out
            else:
                code = os.waitstatus_to_exitcode(status)
                mutant.status = "survived" if code == 0 else "killed"
                if code in (3, 4):
                    mutant.killer = "<the mutant does not load>" if code == 3 else "<error in pytest>"
                elif code >= 10:
                    mutant.killer = mutant.tests[code - 10]
                    kills[mutant.killer] = kills.get(mutant.killer, 0) + 1
            del running[pid]
            if log is not None:
                log.write(f"{mutant.status:9} {time.monotonic() - started[pid]:6.1f}s {len(mutant.tests):4} tests  "
                          f"{mutant.module} | {mutant.key}  <- {mutant.killer}\n")
                log.flush()
            done += 1
            if progress and done % 25 == 0:
                print(f"  ... {done} mutants run", file=sys.stderr, flush=True)


class MutationPlugin:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.results: list[Mutant] = []

    def _control(self, mutants: list[Mutant], items: list[Any], base: dict[str, Any]) -> bool:
        """--control: every module's selected tests, in the orders the mutants use (fastest first, and
        the reverse), run with no mutant. A failure would count as a kill, so the figures are only worth
        something when this passes."""
        by_id = {i.nodeid: i for i in items}
        for short in self.args.modules:
            tests = sorted({t for m in mutants if m.module == short for t in m.tests}, key=lambda t: base[t][1])
            for order, name in ((tests, "fastest first"), (tests[::-1], "slowest first")):
                failed = _control_run(order, by_id)
                print(f"control {short}: {len(order)} tests, {name}: {'FAILED at ' + failed if failed else 'pass'}",
                      flush=True)
        return True

    def pytest_runtestloop(self, session: Any) -> bool:
        import importlib

        args = self.args
        modules = {short: importlib.import_module(MODULES[short]) for short in args.modules}
        files = {importlib.import_module(name).__file__: short for short, name in MODULES.items()}
        trees = {short: ast.parse(Path(m.__file__).read_text(encoding="utf-8")) for short, m in modules.items()}
        rules = load_equivalent()
        mutants = [m for short, mod in modules.items()
                   for m in sample(mutants_of(short, Path(mod.__file__)), args.sample)]
        if args.list:
            for m in mutants:
                flag = "  [equivalent]" if is_equivalent(m, rules) else ""
                print(f"{m.module} | {m.key}{flag}")
            return True
        items = list(session.items)
        start = time.perf_counter()
        base = baseline(items, files)
        failing = sorted(t for t, (failed, _, _) in base.items() if failed)
        if failing:
            print(f"baseline: {len(failing)} tests fail without any mutant and are not used: {failing[:5]}",
                  file=sys.stderr)
        print(f"baseline: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        order = [i.nodeid for i in items if i.nodeid in base and not base[i.nodeid][0]]
        sources = {i.nodeid: _source(i) for i in items}
        lines = {t: base[t][2] for t in order}
        for m in mutants:
            if is_equivalent(m, rules):
                m.status = "equivalent"
                continue
            span = {(m.module, n) for n in _reach(m, trees[m.module])}
            names = _bound(m, trees[m.module])  # a test that reads a module-level name itself
            if _rebuilds_places(m):  # the place tables are built once and cached: any test that uses them
                m.tests = [t for t in order if any(s == "places" for s, _ in lines[t])]
            else:
                m.tests = [t for t in order if lines[t] & span or any(n in sources[t] for n in names)]
            m.tests.sort(key=lambda t: base[t][1])  # fastest first
            if not m.tests:
                m.status = "unreached"
        if "places" in modules:  # built once here, inherited by every child (see PLACES_BUILD)
            for name in modules["places"]._BUILDERS:
                modules["places"]._data(name)
        if args.control:
            return self._control(mutants, items, base)
        print(f"running {sum(1 for m in mutants if not m.status)} mutants on {args.jobs} cores ...",
              file=sys.stderr, flush=True)
        if args.resume:
            _resume(mutants, args.log)
        with open(args.log, "a" if args.resume else "w", encoding="utf-8") as log:
            run_mutants(mutants, {i.nodeid: i for i in items}, {t: base[t][1] for t in order}, trees,
                        args.jobs, progress=True, log=log)
        self.results = mutants
        print(f"done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        return True


def _logged(path: Path) -> dict[tuple[str, str], str]:
    """(module, key) -> status of the mutants a log already holds (--resume)."""
    import re

    done: dict[tuple[str, str], str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^(\w+)\s+[\d.]+s\s+\d+ tests  (\w+) \| (.*)  <- .*$", line)
            if match:
                done[(match.group(2), match.group(3))] = match.group(1)
    return done


def _resume(mutants: list[Mutant], log: Path) -> None:
    done = _logged(log)
    for m in mutants:
        if not m.status and (m.module, m.key) in done:
            m.status = done[(m.module, m.key)]


def _control_run(tests: list[str], items_by_id: dict[str, Any]) -> str:
    """Run ``tests`` as a mutant's child would, with no mutant: '' when all pass, else the first failure."""
    pid = os.fork()
    if pid == 0:
        _quiet()
        outcome = _run_items([items_by_id[t] for t in tests], stop_at_failure=True)
        failed = [k for k, (bad, _, _) in enumerate(outcome.values()) if bad]
        os._exit(0 if not failed else 10 + failed[0] if failed[0] < 240 else 1)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return "" if code == 0 else tests[code - 10] if 10 <= code < 250 else f"exit {code}"


def report(mutants: list[Mutant], modules: list[str]) -> str:
    rows = ["| module | mutants | equivalent | killed | survived | unreached | kill rate |",
            "|---|---|---|---|---|---|---|"]
    for short in modules:
        mine = [m for m in mutants if m.module == short]
        count = {s: sum(1 for m in mine if m.status == s) for s in ("equivalent", "killed", "survived", "unreached")}
        scored = len(mine) - count["equivalent"]
        rate = f"{100 * count['killed'] / scored:.1f} %" if scored else "-"
        rows.append(f"| {short} | {len(mine)} | {count['equivalent']} | {count['killed']} | {count['survived']} "
                    f"| {count['unreached']} | {rate} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)} (default: all)")
    parser.add_argument("--sample", type=int, help="mutants per module (deterministic: smallest SHA-1 of the key)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--list", action="store_true", help="print the mutants and run nothing")
    parser.add_argument("--resume", action="store_true", help="keep the results already in --log; run the rest")
    parser.add_argument("--control", action="store_true",
                        help="run each module's selected tests with no mutant, in the mutants' orders; all must pass")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="leave these test files out, e.g. 'tests/test_boundaries_*' for the figures before them")
    parser.add_argument("--survivors", type=Path, help="write the survivors' 'module | key' lines to this file")
    parser.add_argument("--log", type=Path, default=OUT / "mutation-log.txt",
                        help="one line per mutant run: status, seconds, tests, key, the test that killed it")
    args = parser.parse_args()
    args.modules = args.modules or list(MODULES)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; use some of: {', '.join(MODULES)}")
    os.chdir(ROOT)
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import pytest
    from hypothesis import settings

    settings.register_profile("mutation", derandomize=True, database=None)  # the same examples every run
    settings.load_profile("mutation")
    plugin = MutationPlugin(args)
    files = [f for f in FAST if (ROOT / f).exists() and not any(fnmatch.fnmatch(f, g) for g in args.exclude)]
    code = pytest.main(["-q", "-s", "-p", "no:cacheprovider", "--timeout=0", *files], plugins=[plugin])
    if args.list or args.control:
        return 0
    if not plugin.results:
        print(f"pytest exited {code} before any mutant ran", file=sys.stderr)
        return 1
    how = f"a sample of {args.sample} a module (smallest SHA-1 of the key)" if args.sample else "every mutant"
    left_out = f"; test files left out: {', '.join(args.exclude)}" if args.exclude else ""
    print(f"mutation run: {how}{left_out}")
    print(report(plugin.results, args.modules))
    survivors = [m for m in plugin.results if m.status in ("survived", "unreached")]
    if args.survivors:
        args.survivors.write_text("".join(f"{m.module} | {m.key} | {m.status} lines {m.lines[0]}-{m.lines[1]}\n"
                                          for m in survivors), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
