"""Item 4, an experiment: what compiling the hot modules with mypyc would buy on the 10k build.

TrialFinder installs and runs as pure Python. This measures the option of compiling instead, so that
the choice can be made on figures: it copies ``trialfinder/`` to a temporary folder, compiles the
modules that normalize, classify and locate (``COMPILED``) with mypyc there, and times the same
thing as ``throughput.py`` (``DataStore.load``; setup = ``geo.load_index`` read back + ``build_tables``
on 20 studies; then ``build_tables`` on all N) for the pure and the compiled copy, alternately, each
run in a fresh interpreter. It also checks that both give the same three tables.

Three classes are changed in the copy only, because mypyc's native classes have no per-instance
``__dict__`` for ``rules.texts.once`` to keep its values in: ``StudyFacts`` and ``StudyTexts`` are
left as ordinary classes (``@mypyc_attr(native_class=False)``; mypyc still compiles their methods), and
``geo._Cities`` too, so that the place index it is stored in can be pickled.

Needs mypy (it ships mypyc) and a C compiler with the Python headers; neither is a TrialFinder
dependency::

    .venv/bin/pip install mypy
    .venv/bin/python benchmarks/compiled.py [--n 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMPILED = [
    "trialfinder/rules/__init__.py", "trialfinder/rules/texts.py", "trialfinder/facts.py", "trialfinder/normalize.py",
    "trialfinder/categories.py", "trialfinder/setting.py", "trialfinder/biomarkers.py", "trialfinder/geo.py",
    "trialfinder/tables.py",
]
#: (file, class) left as an ordinary Python class in the compiled copy (see the module docstring)
ORDINARY_CLASSES = [
    ("trialfinder/facts.py", "@dataclass\nclass StudyFacts"),
    ("trialfinder/rules/texts.py", "class StudyTexts"),
    ("trialfinder/geo.py", "@dataclass(frozen=True)\nclass _Cities"),
]


def _child(code_dir: str, data_dir: str, index_dir: str) -> None:
    """Time one build with ``trialfinder`` imported from ``code_dir`` (nothing else imported first)."""
    sys.path.insert(0, code_dir)
    import json

    from trialfinder import categories, geo
    from trialfinder.store import Dataset, DataStore
    from trialfinder.tables import build_tables

    stored = DataStore(Path(data_dir)).load()
    assert stored is not None
    t0 = time.perf_counter()
    geo.load_index(Path(index_dir))
    build_tables(Dataset(studies=stored.studies[:20], meta=stored.meta))
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = build_tables(Dataset(studies=stored.studies, meta=stored.meta))
    build = time.perf_counter() - t0
    digest = hashlib.sha256()
    for frame in (tables.studies, tables.sites, tables.interventions):
        digest.update(frame.to_csv().encode())
    print(json.dumps({"setup_s": setup, "build_s": build, "compiled": not categories.__file__.endswith(".py"),
                      "tables_sha256": digest.hexdigest()}), flush=True)


def compile_copy(target: Path, root: Path) -> float:
    """Copy ``trialfinder/`` into ``target`` and compile COMPILED there; seconds taken."""
    shutil.copytree(root / "trialfinder", target / "trialfinder", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for name, cls in ORDINARY_CLASSES:
        path = target / name
        text = path.read_text()
        if cls not in text:
            raise SystemExit(f"{name}: {cls!r} not found; update ORDINARY_CLASSES")
        text = text.replace(cls, "@mypyc_attr(native_class=False)\n" + cls, 1)
        text = text.replace("from __future__ import annotations\n",
                            "from __future__ import annotations\n\nfrom mypy_extensions import mypyc_attr\n", 1)
        path.write_text(text)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mypyc", "--ignore-missing-imports", *COMPILED], cwd=target,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"mypyc failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="studies (replicated fixtures, as throughput.py)")
    parser.add_argument("--runs", type=int, default=3, help="fresh-interpreter runs of each variant")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return
    if importlib.util.find_spec("mypyc") is None:
        print("mypyc is not installed: `.venv/bin/pip install mypy` (it ships mypyc), then run this again.")
        raise SystemExit(2)

    from common import ROOT, fmt_s, print_machine, print_table, run_child, temp_dir
    from throughput import write_inputs

    print_machine()
    with temp_dir() as work:
        seconds = compile_copy(work / "compiled", ROOT)
        print(f"  compiled {len(COMPILED)} modules with mypyc in {seconds:.0f} s", flush=True)
        data_dir, _, _ = write_inputs(args.n, work)
        variants = {"pure Python": ROOT, "mypyc": work / "compiled"}
        runs: dict[str, list[dict]] = {name: [] for name in variants}
        for name, code in variants.items():  # each its own place index (its key hashes geo's file), saved once
            (work / name).mkdir()
            run_child("compiled.py", str(code), str(data_dir), str(work / name))
        for _ in range(args.runs):
            for name, code in variants.items():
                runs[name].append(run_child("compiled.py", str(code), str(data_dir), str(work / name)))
    for name, want in (("pure Python", False), ("mypyc", True)):
        if any(r["compiled"] != want for r in runs[name]):
            raise SystemExit(f"{name}: the runs did not import the code meant ({'compiled' if want else 'pure'})")
    digests = {r["tables_sha256"] for rs in runs.values() for r in rs}
    rows = []
    for name, rs in runs.items():
        total = [r["setup_s"] + r["build_s"] for r in rs]
        rows.append([name, fmt_s(statistics.median(r["setup_s"] for r in rs)),
                     fmt_s(statistics.median(r["build_s"] for r in rs)), fmt_s(statistics.median(total)),
                     fmt_s(min(total)), f"{len(rs)}"])
    pure = statistics.median(r["setup_s"] + r["build_s"] for r in runs["pure Python"])
    comp = statistics.median(r["setup_s"] + r["build_s"] for r in runs["mypyc"])
    print_table(f"{args.n:,} replicated studies: setup + build_tables (target for item 4: < 2 s)",
                ["code", "setup (median)", "build_tables (median)", "setup + build (median)", "best", "runs"], rows)
    print(f"\n  compiled / pure: {comp / pure:.2f}×;  same tables from both: {'yes' if len(digests) == 1 else 'NO'}")


if __name__ == "__main__":
    main()
