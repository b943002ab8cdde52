"""Disease setting (relapsed/refractory, newly diagnosed, post-transplant) from ``rules/setting.csv``.

Phrases are looked for in the titles, conditions, keywords, brief summary and the inclusion
criteria; a phrase right after a negation ("no", "without", "not"…) does not count, and
``exclusion``-scoped phrases (e.g. "prior therapy for AML" among the exclusion criteria) are looked
for in the exclusion criteria only. So "no prior therapy for AML" reads as newly diagnosed.
"""

from __future__ import annotations

import re

from .facts import StudyFacts
from .rules import KeywordIndex, KeywordRegex, load, norm, preceded_by, term_regex

SETTING_KEYS = ("relapsed_refractory", "newly_diagnosed", "post_transplant")

_ROWS = load("setting")
NEGATIONS = frozenset({"no", "not", "without", "never", "exclude", "excluded", "excluding", "except", "non", "nor"})
_EXCLUSION_PHRASES = (r"exclusion criteria", r"exclusion:", r"key exclusion", r"patients? (?:will be|are) excluded",
                      r"criteria for exclusion")
_EXCLUSION = re.compile("|".join(_EXCLUSION_PHRASES))
# Every phrase contains "exclu" at most this many characters in (bounded phrases: no * + {), so the
# first phrase starts at most this far before the first "exclu": the search starts there.
if not all("exclu" in p and not re.search(r"[*+{]", p) for p in _EXCLUSION_PHRASES):
    raise ValueError("every exclusion phrase must contain 'exclu' and be of bounded length")
_EXCLUSION_LEAD = max(len(p) for p in _EXCLUSION_PHRASES)


def _rows(setting: str, scope: str) -> list[KeywordRegex]:
    return [KeywordRegex(term_regex(r["pattern"]), r["keywords"].split("|"))
            for r in _ROWS if r["setting"] == setting and r["scope"] == scope]


def _qualifier(setting: str) -> re.Pattern[str]:
    terms = [term_regex(r["pattern"]) for r in _ROWS if r["setting"] == setting]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(terms) + r")(?![a-z0-9])")


_ANY = {k: _rows(k, "any") for k in SETTING_KEYS}
_EXCL = {k: _rows(k, "exclusion") for k in SETTING_KEYS}
# All keywords of the rows searched in the same text, found in one pass per text.
_ANY_INDEX = KeywordIndex(kw for rows in _ANY.values() for row in rows for kw in row.keywords)
_EXCL_INDEX = KeywordIndex(kw for rows in _EXCL.values() for row in rows for kw in row.keywords)
_AML = _qualifier("aml")
_OTHER = _qualifier("other_disease")
_AFTER, _BEFORE = 60, 40  # characters around a relapsed/refractory phrase searched for its disease


def split_eligibility(text: str) -> tuple[str, str]:
    """(inclusion, exclusion) parts of normalised eligibility text."""
    i = text.find("exclu")
    m = _EXCLUSION.search(text, max(0, i - _EXCLUSION_LEAD)) if i >= 0 else None
    return (text[: m.start()], text[m.start():]) if m else (text, "")


def _affirmed(rows: list[KeywordRegex], text: str, positions: dict[str, list[int]],
              disease_check: bool = False) -> re.Match[str] | None:
    """First match not right after a negation (and, if asked, not qualifying only a non-AML disease:
    "relapsed or refractory lymphoma", "lymphoma that has come back"). ``positions``: the rows'
    keyword occurrences in ``text`` (a :class:`KeywordIndex`)."""
    for row in rows:
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
                if _OTHER.search(near) and not _AML.search(near):
                    continue
            return m
    return None


def setting_texts(facts: StudyFacts) -> tuple[str, str]:
    """(text where setting phrases count, exclusion criteria) for a study, normalised."""
    inclusion, exclusion = split_eligibility(norm(facts.eligibility))
    head = " ; ".join((facts.title, facts.official_title, *facts.conditions, *facts.keywords, facts.brief_summary))
    return f"{norm(head)} ; {inclusion}", exclusion


def setting_evidence(facts: StudyFacts) -> dict[str, str]:
    """Each setting found, with the phrase (and a little context) that showed it."""
    text, exclusion = setting_texts(facts)
    positions = _ANY_INDEX.positions(text)
    excl_positions: dict[str, list[int]] | None = None
    found: dict[str, str] = {}
    for key in SETTING_KEYS:
        m, source = _affirmed(_ANY[key], text, positions, key == "relapsed_refractory"), text
        if m is None and exclusion and _EXCL[key]:
            if excl_positions is None:
                excl_positions = _EXCL_INDEX.positions(exclusion)
            m, source = _affirmed(_EXCL[key], exclusion, excl_positions), exclusion
        if m is not None:
            found[key] = source[max(0, m.start() - 40):m.end() + 20].strip()
    return found


def disease_setting(facts: StudyFacts) -> tuple[str, ...]:
    """The settings a study enrols, a subset of SETTING_KEYS in that order."""
    return tuple(setting_evidence(facts))
