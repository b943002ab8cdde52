"""Eligibility facts against the hand labels (tests/data/ELIGIBILITY_LABELS.jsonl): floors that guard the
scores from sliding back, and the "nothing extracted" baseline they must beat (scoring in
trialfinder/classify/eligibility_evaluation.py; the same figures as benchmarks/eligibility.py)."""

from __future__ import annotations

import pytest
from paths import TESTS

from trialfinder.classify.eligibility import SCALAR_FIELDS, SET_FIELDS, Eligibility
from trialfinder.classify.eligibility_evaluation import EligibilityReport, evaluate, load_criteria, load_labels

LABELS = TESTS / "data" / "ELIGIBILITY_LABELS.jsonl"
FIXTURES = TESTS.parent / "fixtures" / "aml-studies"  # the labelled records, one <NCT>.json each
#: floors a little under the scores measured when they were set (see benchmarks/eligibility.py)
ACCURACY_FLOOR = {"max_ecog": 0.96, "prior_allo_hct": 0.92, "max_prior_lines": 0.95}
STATED_ACCURACY_FLOOR = {"max_ecog": 0.95, "prior_allo_hct": 0.88, "max_prior_lines": 0.93}
F1_FLOOR = {"required_markers": 0.90, "excluded_markers": 0.94, "required_prior_therapies": 0.90,
            "excluded_prior_therapies": 0.90}

pytestmark = pytest.mark.skipif(not LABELS.exists(), reason="no eligibility labels yet")


@pytest.fixture(scope="module")
def scored() -> tuple[EligibilityReport, EligibilityReport]:
    labels = load_labels(LABELS)
    criteria = load_criteria(FIXTURES, labels)
    return evaluate(criteria, labels), evaluate(criteria, labels, lambda text: Eligibility())


def test_at_least_60_studies_labelled(scored: tuple[EligibilityReport, EligibilityReport]) -> None:
    assert scored[0].n >= 60


@pytest.mark.parametrize("field", SCALAR_FIELDS)
def test_scalar_accuracy(scored: tuple[EligibilityReport, EligibilityReport], field: str) -> None:
    report, baseline = scored
    score = report.scalars[field]
    assert score.accuracy >= ACCURACY_FLOOR[field], score
    assert score.stated_accuracy >= STATED_ACCURACY_FLOOR[field], score
    assert score.accuracy > baseline.scalars[field].accuracy


@pytest.mark.parametrize("field", SET_FIELDS)
def test_set_f1(scored: tuple[EligibilityReport, EligibilityReport], field: str) -> None:
    report, baseline = scored
    assert report.sets[field].f1 >= F1_FLOOR[field], report.sets[field]
    assert baseline.sets[field].f1 == 0.0
