"""The rule tables are well-formed clinical data: every row has its source, known categories and groups,
codes carry a digit, no spelling names two agents, and no rule is a common English word."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from trialfinder.classify.categories import find
from trialfinder.classify.rules import RULES_DIR, norm
from trialfinder.classify.rules.vocabulary import CATEGORY_KEYS, GROUPS, vocabulary

AGENT_FILES = sorted((RULES_DIR / "agents").glob("*.csv"))
# Words that occur in trial titles and arm descriptions: none may be read as a treatment on its own.
ORDINARY = ("day", "part", "phase", "cycle", "arm", "dose", "study", "cohort", "stage", "grade", "low", "high",
            "and", "with", "after", "before", "treatment", "patients", "leukemia", "acute", "cell", "cells", "blood",
            "bone", "marrow", "risk", "free", "daily", "oral", "intravenous", "injection", "tablet", "capsule")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("path", AGENT_FILES, ids=lambda p: p.name)
def test_agent_rows_are_complete(path: Path) -> None:
    for row in _rows(path):
        assert row["name"] and row["class"] and row["source"], row
        assert set(filter(None, row["category"].split(";"))) <= set(CATEGORY_KEYS), row
        assert row["group"] in GROUPS | {""}, row
        for code in filter(None, row["codes"].split("|")):
            assert re.search(r"\d", code) and len(code) >= 4, (row["name"], code)


def test_no_spelling_names_two_agents() -> None:
    owners: dict[str, set[str]] = {}
    for path in AGENT_FILES:
        for row in _rows(path):
            for text in (row["name"], *row["codes"].split("|"), *row["brands"].split("|"), *row["synonyms"].split("|")):
                key = re.sub(r"[^a-z0-9]", "", text.lower())
                if key:
                    owners.setdefault(key, set()).add(row["name"])
    clashes = {k: v for k, v in owners.items() if len(v) > 1}
    assert not clashes


def test_every_table_row_has_a_source() -> None:
    for name in ("regimens", "stems", "forms"):
        assert all(row["source"] for row in _rows(RULES_DIR / f"{name}.csv")), name
    assert all(r.source for r in vocabulary().rules)


@pytest.mark.parametrize("word", ORDINARY)
def test_ordinary_words_are_no_treatment(word: str) -> None:
    assert not [s for s in find(norm(word), stems=False, free_text=True) if s.rule.kind in {"agent", "regimen"}]


def test_one_vocabulary_many_families() -> None:
    kinds = Counter(r.kind for r in vocabulary().rules)
    assert kinds["agent"] > 1500 and kinds["stem"] > 100 and kinds["regimen"] > 100
