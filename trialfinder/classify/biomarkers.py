"""Molecular targets / biomarkers of a study, from ``rules/biomarkers.csv`` and the drugs' targets.

Looked for in the titles, conditions, keywords and the inclusion criteria (not the exclusion
criteria, not after a negation), plus the targets the classifier found in the study's drugs
(gilteritinib → FLT3, revumenib → KMT2A, a CD33 CAR-T → CD33).
"""

from __future__ import annotations

import re

from ..source.facts import StudyFacts
from .categories import Classification, classify
from .rules import KeywordRegex, load, preceded_by, term_regex
from .texts import texts

_ROWS = load("biomarkers")
BIOMARKER_KEYS: tuple[str, ...] = tuple(dict.fromkeys(r["biomarker"] for r in _ROWS))
_RX = [(r["biomarker"], KeywordRegex(term_regex(r["pattern"]), r["keywords"].split("|"),
                                     int(r["before"] or 40), int(r["after"] or 40))) for r in _ROWS]
_ROWS_OF: dict[str, tuple[int, ...]] = {}  # keyword -> the rows (indexes in _RX) it opens windows for
for _i, (_key, _rx) in enumerate(_RX):
    for _kw in _rx.keywords:
        _ROWS_OF[_kw] = (*_ROWS_OF.get(_kw, ()), _i)
    del _kw
del _i, _key, _rx
_NEGATIONS = frozenset({"no", "not", "without", "never", "non", "wild-type", "wildtype"})
_NEGATION_PHRASES = ("negative for", "wild type")


_RISK_LIST = re.compile(r"risk|prognos|such as|e\.g\.|including|features|cytogenetic|any of the following|genetics")


def _counts(text: str, start: int, criteria: bool) -> bool:
    """Whether a biomarker named at ``text[start]`` counts: not negated, and in the criteria not
    in a list of risk features."""
    if preceded_by(text, start, _NEGATIONS, _NEGATION_PHRASES, 3):
        return False
    return not (criteria and _RISK_LIST.search(text, max(0, start - 120), start))


def biomarkers(facts: StudyFacts, classification: Classification | None = None) -> tuple[str, ...]:
    """Biomarkers in BIOMARKER_KEYS order. In the eligibility criteria a biomarker named in a list of
    risk features ("high-risk AML, e.g. FLT3-ITD, complex karyotype") does not count: the study
    does not select by it."""
    found: set[str] = set()
    pieces = tuple(enumerate(texts(facts).biomarker))  # head, then inclusion criteria
    # only the rows one of whose keywords is in a piece (the others match nowhere), in table order
    live = sorted({i for _, (_, positions) in pieces for kw in positions for i in _ROWS_OF.get(kw, ())})
    for key, rx in map(_RX.__getitem__, live):
        if key in found:  # already shown by another row of the same biomarker
            continue
        for k, (text, positions) in pieces:
            if positions.keys().isdisjoint(rx.keywords):  # none of its keywords: no match (the usual case)
                continue
            if any(_counts(text, m.start(), k == 1) for m in rx.matches(text, positions)):
                found.add(key)
                break
    cls = classification if classification is not None else classify(facts)
    found.update(t for t in cls.targets if t in BIOMARKER_KEYS)
    return tuple(k for k in BIOMARKER_KEYS if k in found)
