"""Classifier accuracy and speed against the hand labels.

    .venv/bin/python benchmarks/classification.py [--errors]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trialfinder.classify.evaluation import (  # noqa: E402
    evaluate,
    format_errors,
    format_report,
    load_labels,
    load_studies,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every mismatch with its evidence")
    args = parser.parse_args(argv)
    report = evaluate(load_studies(ROOT / "fixtures" / "aml-studies"),
                      load_labels(ROOT / "tests" / "data" / "LABELS.jsonl"))
    print(format_report(report))
    if args.errors:
        print(f"\nmismatches ({len(report.errors)} studies):")
        print(format_errors(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
