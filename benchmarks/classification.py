"""Classifier accuracy and speed against the hand labels, and how well the vocabulary knows real records.

    .venv/bin/python benchmarks/classification.py [--errors] [--unmatched]

Prints per-category P/R/F1 on the 377 labelled fixtures; the share of drug/biological intervention names
that no rule recognises, on the fixtures and, separately, on every other real record in
../shared/ctgov-raw/ (other diseases too); and the rules that fire on exactly one fixture study (a rule
that is not a real drug's row firing once is a sign of memorising a fixture's wording).
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
from trialfinder.classify.coverage import coverage, read_records, single_study_rules  # noqa: E402
from trialfinder.classify.rules.vocabulary import vocabulary  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every mismatch with its evidence")
    parser.add_argument("--unmatched", action="store_true", help="list the unmatched drug/biological names")
    parser.add_argument("--raw", type=Path, default=ROOT.parent / "shared" / "ctgov-raw",
                        help="folder of other real registry records (default ../shared/ctgov-raw)")
    args = parser.parse_args(argv)
    fixtures = load_studies(ROOT / "fixtures" / "aml-studies")
    report = evaluate(fixtures, load_labels(ROOT / "tests" / "data" / "LABELS.jsonl"))
    print(format_report(report))
    if args.errors:
        print(f"\nmismatches ({len(report.errors)} studies):")
        print(format_errors(report))
    print_vocabulary(fixtures, args.raw, args.unmatched)
    return 0


def print_vocabulary(fixtures: list, raw: Path, show: bool) -> None:
    ours = coverage(fixtures)
    print(f"\nunmatched drug/biological names, fixtures: {len(ours.unmatched)} of {ours.names} "
          f"({ours.share:.1%}; target ≤ 3 %)")
    if raw.is_dir():
        ids = {f.nct_id for f in fixtures}
        others = [f for f in read_records(raw) if f.nct_id not in ids]
        theirs = coverage(others)
        print(f"unmatched drug/biological names, other real records in {raw.name}/ ({len(others)} studies): "
              f"{len(theirs.unmatched)} of {theirs.names} ({theirs.share:.1%}; target ≤ 10 %)")
    else:
        theirs = None
        print(f"(no {raw}: the other real records were not measured)")
    once = single_study_rules(fixtures)
    not_drugs = {r: n for r, n in once.items() if r.kind != "agent"}
    print(f"rules firing on exactly one fixture study: {len(once)} of {len(vocabulary().rules)} "
          f"({len(once) - len(not_drugs)} name a real drug; {len(not_drugs)} do not)")
    for rule, nct in sorted(not_drugs.items(), key=lambda x: x[1]):
        print(f"    {nct}  {rule.kind}: {rule.name[:70]}")
    if show:
        print("\nunmatched, fixtures:", "; ".join(ours.unmatched))
        if theirs is not None:
            print("unmatched, other records:", "; ".join(theirs.unmatched))


if __name__ == "__main__":
    raise SystemExit(main())
