"""Where the tests' own data lives (the package reads nothing outside itself)."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
LABELS = TESTS / "data" / "LABELS.jsonl"
GOLDEN = TESTS / "data" / "golden"
AML_STUDIES = ROOT / "fixtures" / "aml-studies"  # the records the packaged snapshot is built from
