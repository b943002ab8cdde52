"""How fast the command line starts, each figure beside its floor measured in the same run
(interleaved rounds, medians), with the load average noted:

* ``trialfinder --help`` and ``--version`` against ``python -c "import click"`` (target ≤ 2×) and
  ``python -c pass``;
* the first ``trialfinder search --near 85719`` on a new machine (an empty cache folder: no built
  tables, no place index of its own), target ≤ 1 s, and the same search warm.

    .venv/bin/python benchmarks/startup.py [--rounds 7] [--json]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Figure, fmt_s, load_average, print_figures, print_table, save_figures


def command() -> list[str]:
    """The installed console script when there is one (what a user runs), else ``python -m trialfinder``."""
    script = Path(sys.executable).with_name("trialfinder")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trialfinder"]


CPU: dict[str, list[float]] = {}  # command -> CPU seconds (user + system) of each run: steadier on a busy machine


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], env: dict[str, str], name: str = "") -> float:
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(args, env=env, cwd=tempfile.gettempdir(), capture_output=True)
    seconds = time.perf_counter() - start
    CPU.setdefault(name, []).append(_children_cpu() - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{args} failed: {done.stderr.decode()[-500:]}")
    return seconds


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="write benchmarks/out/startup.json")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tf-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    env.update(PYTHONPATH=str(ROOT), TRIALFINDER_OFFLINE="1", HOME=str(work))
    cli = command()
    near = [*cli, "search", "--near", "85719", "--format", "csv"]
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import click"': [sys.executable, "-c", "import click"],
        "trialfinder --help": [*cli, "--help"],
        "trialfinder --version": [*cli, "--version"],
    }
    # installing sets up the bundled snapshot's tables (scripts/setup.sh does this); not timed
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_snapshot.py"), "--tables"], env=env, check=True,
                   capture_output=True)
    load_before = load_average()
    times: dict[str, list[float]] = {name: [] for name in [*cases, "first search --near", "warm search --near"]}
    try:
        for _ in range(args.rounds):
            for name, argv_ in cases.items():
                times[name].append(timed(argv_, env, name))
        for k in range(max(3, args.rounds // 2)):
            cache = work / f"cache-{k}"  # a new machine: nothing built, nothing cached
            run_env = {**env, "TRIALFINDER_CACHE_DIR": str(cache)}
            times["first search --near"].append(timed(near, run_env, "first search --near"))
            times["warm search --near"].append(timed(near, run_env, "warm search --near"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(values) for name, values in times.items()}
    print_table(f"CLI start ({args.rounds} interleaved rounds; load average {load_before} → {load_average()})",
                ["command", "min", "median", "max", "CPU (user + system), median"],
                [[name, fmt_s(min(v)), fmt_s(med[name]), fmt_s(max(v)), fmt_s(statistics.median(CPU[name]))]
                 for name, v in times.items()])
    cpu = {name: statistics.median(values) for name, values in CPU.items()}
    click_floor = med['python -c "import click"']
    figures = [
        Figure("2", "trialfinder --help", fmt_s(med["trialfinder --help"]), fmt_s(click_floor),
               f"{med['trialfinder --help'] / click_floor:.2f}× import click", "≤ 2× import click",
               med["trialfinder --help"] <= 2 * click_floor),
        Figure("2", "trialfinder --version", fmt_s(med["trialfinder --version"]), fmt_s(click_floor),
               f"{med['trialfinder --version'] / click_floor:.2f}× import click", "—", None),
        Figure("3", "first search --near on a new machine", fmt_s(med["first search --near"]),
               fmt_s(med["python -c pass"]), "—", "≤ 1 s", med["first search --near"] <= 1.0),
        Figure("3", "the same search, warm", fmt_s(med["warm search --near"]), "—", "—", "—", None),
        Figure("3", "  … first search --near, CPU time (user + system)", fmt_s(cpu["first search --near"]),
               fmt_s(cpu["python -c pass"]), "—", "≤ 1 s", cpu["first search --near"] <= 1.0),
    ]
    print_figures("Summary (items 2, 3; the 'naive' column is the floor)", figures)
    if args.json:
        save_figures("startup", figures, {"times": times, "cpu": CPU, "load_average": load_average()})
    return figures


if __name__ == "__main__":
    main()
