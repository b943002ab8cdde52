"""Eligibility facts against the hand labels: per-field accuracy (scalars, also on stated values) and
micro-F1 (sets), beside the "nothing extracted" baseline.

    .venv/bin/python benchmarks/eligibility.py [--errors] [--half dev|check]

``--half`` scores one of two fixed halves of the labels, split by a hash of the NCT id (rule changes are
developed on ``dev``; ``check`` shows whether they carry over to studies they were not tuned on).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trialfinder.classify.eligibility import Eligibility  # noqa: E402
from trialfinder.classify.eligibility_evaluation import (  # noqa: E402
    evaluate,
    format_report,
    load_criteria,
    load_labels,
)

LABELS = ROOT / "tests" / "data" / "ELIGIBILITY_LABELS.jsonl"
FIXTURES = ROOT / "fixtures" / "aml-studies"  # the labelled records, one <NCT>.json each


def half(nct_id: str) -> str:
    """``dev`` or ``check``: a fixed split of the labelled studies by a hash of the NCT id."""
    return "dev" if hashlib.sha256(nct_id.encode()).digest()[0] % 2 == 0 else "check"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every mismatch (label -> extracted)")
    parser.add_argument("--half", choices=("dev", "check"), help="score one half of the labels (split by NCT id hash)")
    args = parser.parse_args(argv)
    if not LABELS.exists():
        print(f"no labels at {LABELS}; nothing to score", file=sys.stderr)
        return 1
    labels = load_labels(LABELS)
    if args.half:
        labels = {nct: label for nct, label in labels.items() if half(nct) == args.half}
    criteria = load_criteria(FIXTURES, labels)
    report = evaluate(criteria, labels)
    print(format_report(report, evaluate(criteria, labels, lambda text: Eligibility())))
    if args.errors:
        print(f"\nmismatches ({len(report.errors)} studies):")
        for error in report.errors:
            for name, (want, got) in error["wrong"].items():
                print(f"  {error['nct_id']}  {name}: label {want}  extracted {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
