"""Accuracy floors against the hand labels — guards against sliding back (scoring in evaluation.py)."""

from __future__ import annotations

import pytest
from paths import AML_STUDIES, LABELS

from trialfinder.classify.categories import CATEGORY_KEYS
from trialfinder.classify.evaluation import Report, evaluate, load_labels, load_studies


CATEGORY_F1_FLOOR = 0.93
RR_ACCURACY_FLOOR = 0.93
ND_ACCURACY_FLOOR = 0.87
BIOMARKER_F1_FLOOR = 0.88


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(load_studies(AML_STUDIES), load_labels(LABELS))


def test_all_labelled_fixtures_scored(report: Report) -> None:
    assert report.n == 377


@pytest.mark.parametrize("category", [*CATEGORY_KEYS, "other"])
def test_category_f1(report: Report, category: str) -> None:
    prf = report.categories[category]
    assert prf.f1 >= CATEGORY_F1_FLOOR, (category, prf)


def test_relapsed_refractory_accuracy(report: Report) -> None:
    assert report.rr_accuracy >= RR_ACCURACY_FLOOR


def test_newly_diagnosed_accuracy(report: Report) -> None:
    assert report.nd_accuracy >= ND_ACCURACY_FLOOR


def test_biomarker_f1(report: Report) -> None:
    assert report.biomarkers.f1 >= BIOMARKER_F1_FLOOR
