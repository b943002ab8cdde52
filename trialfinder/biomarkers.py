"""Molecular targets / biomarkers of a study, from ``rules/biomarkers.csv`` and the drugs' targets.

Looked for in the titles, conditions, keywords and the inclusion criteria (not the exclusion
criteria, not after a negation), plus the targets the classifier found in the study's drugs
(gilteritinib → FLT3, revumenib → KMT2A, a CD33 CAR-T → CD33).
"""

from __future__ import annotations

import re

from .categories import Classification, classify
from .facts import StudyFacts
from .rules import KeywordIndex, KeywordRegex, load, norm, preceded_by, term_regex
from .setting import split_eligibility

_ROWS = load("biomarkers")
BIOMARKER_KEYS: tuple[str, ...] = tuple(dict.fromkeys(r["biomarker"] for r in _ROWS))
_RX = [(r["biomarker"], KeywordRegex(term_regex(r["pattern"]), r["keywords"].split("|"), 40, 40)) for r in _ROWS]
_INDEX = KeywordIndex(kw for _, rx in _RX for kw in rx.keywords)
_NEGATIONS = frozenset({"no", "not", "without", "never", "non", "wild-type", "wildtype"})
_NEGATION_PHRASES = ("negative for", "wild type")


_RISK_LIST = re.compile(r"risk|prognos|such as|e\.g\.|including|features|cytogenetic|any of the following|genetics")


def biomarkers(facts: StudyFacts, classification: Classification | None = None) -> tuple[str, ...]:
    """Biomarkers in BIOMARKER_KEYS order. In the eligibility criteria a biomarker named in a list of
    risk features ("high-risk AML, e.g. FLT3-ITD, complex karyotype") does not count: the study
    does not select by it."""
    inclusion, _ = split_eligibility(norm(facts.eligibility))
    head = norm(" ; ".join((facts.title, facts.official_title, *facts.conditions, *facts.keywords)))
    text = f"{head} ; {inclusion}"
    positions = _INDEX.positions(text)
    found: set[str] = set()
    for key, rx in _RX:
        if key in found:  # already shown by another row of the same biomarker
            continue
        for m in rx.matches(text, positions):
            if preceded_by(text, m.start(), _NEGATIONS, _NEGATION_PHRASES, 3):
                continue
            if m.start() > len(head) and _RISK_LIST.search(text, max(len(head), m.start() - 120), m.start()):
                continue
            found.add(key)
            break
    cls = classification if classification is not None else classify(facts)
    found.update(t for t in cls.targets if t in BIOMARKER_KEYS)
    return tuple(k for k in BIOMARKER_KEYS if k in found)
