"""The fault matrix and the chaos run, printed: for every fault, what was expected, what happened,
whether the stored data set stayed a complete one, what a plain refresh afterwards stored, and how
long the attempt took. The cases are the table in ``tests/faultcases.py`` (the same one
``tests/test_faults.py`` asserts); nothing touches the internet.

    .venv/bin/python benchmarks/faults.py [--chaos-attempts 300] [--seed 20261126] [--markdown]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
import time
from pathlib import Path

from common import print_machine, print_table  # also puts tests/ on sys.path
from faultcases import CASES, FaultLab, chaos_run  # noqa: E402


def short(text: str, limit: int = 110) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chaos-attempts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--markdown", action="store_true", help="also print the matrix as a Markdown table")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the data-set store: the SQLite file, or a PostgreSQL started on loopback (tests/pgserver.py)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # urllib3 logs every retry; the table says what happened

    print_machine()
    rows, md = [], []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tf-faults-") as tmp, contextlib.ExitStack() as stack:
        pg = None
        if args.backend == "postgresql":
            from pgserver import PgServer, pg_bin

            if pg_bin() is None:
                parser.error("PostgreSQL is not installed (apt-get install postgresql)")
            pg = stack.enter_context(PgServer(pg_bin()))  # type: ignore[arg-type]
        lab = FaultLab(Path(tmp), backend=args.backend, pg=pg)
        try:
            outcomes = [lab.run(case) for case in CASES]
        finally:
            lab.close()
    for o in outcomes:
        c = o.case
        if o.skipped:
            actual, intact, verdict = "—", "—", f"skipped ({o.skipped})"
        else:
            actual = o.actual if o.actual != "success" else "success" + (" + warning" if o.warnings else "")
            if o.actual != "success" and c.attempt != "load":
                actual += f": {o.message}"
            elif o.warnings and c.warning:
                actual += f" ({next((w for w in o.warnings if c.warning in w), o.warnings[0])})"
            intact = ("yes — " if o.intact else "NO — ") + o.intact_detail
            verdict = o.verdict + (f" ({c.gap})" if o.gap_hit else "")
        rows.append([c.fault, c.expected, short(actual), short(intact, 70), o.recovery or "—",
                     f"{o.seconds:.2f} s" if not o.skipped else "—", short(verdict, 60)])
        md.append(f"| {c.fault} | {c.expected} | {actual} | {'—' if o.skipped else ('yes' if o.intact else 'NO')} "
                  f"| {o.recovery or '—'} | {'—' if o.skipped else f'{o.seconds:.2f} s'} | {verdict} |")
    print_table(f"Fault matrix ({len(CASES)} cases, {time.perf_counter() - start:.1f} s; data set A stored, "
                "server holds B; then a plain refresh without faults)",
                ["fault", "expected", "actual", "data set intact", "then", "time", "verdict"], rows)
    failed = [o for o in outcomes if o.problems]
    gaps = [o for o in outcomes if o.gap_hit]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} as expected or skipped; {len(gaps)} known gap(s); "
          f"{len(failed)} FAILED; data set intact in every case run: "
          f"{'yes' if all(o.intact for o in outcomes if not o.skipped) else 'NO'}")
    if args.markdown:
        print("\n| fault | expected | actual | intact | then | time | verdict |\n|---|---|---|---|---|---|---|")
        print("\n".join(md))

    print(f"\nChaos run ({args.chaos_attempts} refreshes, random faults, data flipping between two versions):")
    summary = chaos_run(args.seed, args.chaos_attempts)
    for line in summary.lines():
        print("  " + line)
    print("  faults injected: " + ", ".join(f"{k} {v}" for k, v in summary.faults.most_common()))
    for v in summary.violations[:10]:
        print("  VIOLATION: " + v)
    return 1 if failed or summary.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
