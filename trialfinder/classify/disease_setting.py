"""Disease setting (relapsed/refractory, newly diagnosed, post-transplant) from ``rules/setting.csv``.

Phrases are looked for in the titles, conditions, keywords, brief summary and the inclusion
criteria; a phrase right after a negation ("no", "without", "not"…) does not count, and
``exclusion``-scoped phrases (e.g. "prior therapy for AML" among the exclusion criteria) are looked
for in the exclusion criteria only. So "no prior therapy for AML" reads as newly diagnosed.
"""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

from ..source.facts import StudyFacts
from .rules import KeywordRegex, load, preceded_by, term_regex
from .texts import Piece, joined, texts

DISEASE_SETTING_KEYS = ("relapsed_refractory", "newly_diagnosed", "post_transplant")

NEGATIONS = frozenset({"no", "not", "without", "never", "exclude", "excluded", "excluding", "except", "non", "nor",
                       # a goal or an outcome, not who is enrolled: "to prevent relapse", "risk of relapse"
                       "prevent", "prevents", "preventing", "prevention", "reduce", "reducing", "minimize", "minimise"})


def _rows(rows: list[dict[str, str]], setting: str, scope: str) -> list[KeywordRegex]:
    return [KeywordRegex(term_regex(r["pattern"]), r["keywords"].split("|"),
                         int(r["before"] or 120), int(r["after"] or 160))
            for r in rows if r["setting"] == setting and r["scope"] == scope]


def _qualifier(rows: list[dict[str, str]], setting: str) -> re.Pattern[str]:
    terms = [term_regex(r["pattern"]) for r in rows if r["setting"] == setting]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(terms) + r")(?![a-z0-9])")


class _Table(NamedTuple):
    any: dict[str, list[KeywordRegex]]  # setting -> its rows read anywhere
    exclusion: dict[str, list[KeywordRegex]]  # setting -> its rows read in the exclusion criteria only
    aml: re.Pattern[str]
    other: re.Pattern[str]


@cache
def _table() -> _Table:
    """``setting.csv`` compiled, on first use (importing this module for its keys compiles nothing)."""
    rows = load("setting")
    return _Table({k: _rows(rows, k, "any") for k in DISEASE_SETTING_KEYS},
                  {k: _rows(rows, k, "exclusion") for k in DISEASE_SETTING_KEYS},
                  _qualifier(rows, "aml"), _qualifier(rows, "other_disease"))


_AFTER, _BEFORE = 60, 40  # characters around a relapsed/refractory phrase searched for its disease


def _affirmed(rows: list[KeywordRegex], pieces: tuple[Piece, ...],
              disease_check: bool = False) -> tuple[re.Match[str], int] | None:
    """First match not right after a negation (and, if asked, not qualifying only a non-AML disease:
    "relapsed or refractory lymphoma", "lymphoma that has come back"), and the index of its piece.
    ``pieces``: normalised texts with their keyword occurrences, read as one text joined by " ; "."""
    for row in rows:
        keywords = row.keywords
        for k, (text, positions) in enumerate(pieces):
            if positions.keys().isdisjoint(keywords):
                continue  # (as ``matches`` would find, without the call: the usual case)
            for m in row.matches(text, positions):
                start, end = m.span()
                if preceded_by(text, start, NEGATIONS, ("other than",)):
                    continue
                if disease_check:
                    # The text around the phrase, cut at the nearest ";" on either side.
                    cut = text.rfind(";", max(0, start - _BEFORE), start)
                    stop = text.find(";", end, end + _AFTER)
                    near = text[max(0, start - _BEFORE, cut + 1):start] + " | " + \
                        text[end:stop if stop >= 0 else end + _AFTER]
                    table = _table()
                    if table.other.search(near) and not table.aml.search(near):
                        continue
                return m, k
    return None


def disease_setting_evidence(facts: StudyFacts) -> dict[str, str]:
    """Each setting found, with the phrase (and a little context) that showed it."""
    prepared = texts(facts)
    pieces: tuple[Piece, ...] = prepared.setting
    found: dict[str, str] = {}
    table = _table()
    for key in DISEASE_SETTING_KEYS:
        source = pieces
        hit = _affirmed(table.any[key], pieces, key == "relapsed_refractory")
        if hit is None and table.exclusion[key] and prepared.exclusion[0]:
            source = (prepared.exclusion,)
            hit = _affirmed(table.exclusion[key], source)
        if hit is not None:
            m, k = hit
            offset = sum(len(text) + 3 for text, _ in source[:k])  # the match's place in the joined text
            found[key] = joined(source)[max(0, offset + m.start() - 40):offset + m.end() + 20].strip()
    return found


def disease_setting(facts: StudyFacts) -> tuple[str, ...]:
    """The settings a study enrols, a subset of DISEASE_SETTING_KEYS in that order."""
    return tuple(disease_setting_evidence(facts))
