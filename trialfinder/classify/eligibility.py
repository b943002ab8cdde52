"""Eligibility facts of one study, read from its eligibility criteria by ``rules/eligibility.csv``.

The product rule is ``ELIGIBILITY.md`` (the workspace's shared folder): seven facts per study —
``max_ecog``, ``prior_allo_hct``, ``required_markers``, ``excluded_markers``,
``required_prior_therapies``, ``excluded_prior_therapies``, ``max_prior_lines`` — each taken only from
what the text states, with the criterion sentence(s) it came from as evidence.

How the text is read, in order:

1. :func:`criteria` splits the text into criteria (bullets, numbered items, or lines ending a
   sentence; hard-wrapped lines are joined) and marks each with its section: ``inclusion``,
   ``exclusion`` (from the headings), or ``donor`` (a donor's criteria in a transplant study: never
   read).
2. Each criterion is normalised (lower case, one kind of dash, ``≤`` as ``<=``) and cut into clauses
   at ``;`` and full stops; the table's patterns are searched clause by clause, and the ``cue`` rows
   (negation, time window, allowance, future treatment, …) are looked for in the same clause.
3. The findings are resolved into the facts: ECOG over Karnofsky/Lansky, the worst status any cohort
   allows; a required prior therapy only when every route of entry demands it; untreated-only
   studies get ``any_prior_therapy`` excluded and ``max_prior_lines`` 0.

The table holds the clinical content (one pattern a row, with a note); this module is the plain
engine that applies it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from ..source.facts import StudyFacts
from .eligibility_facts import (  # noqa: F401  (re-exported: the facts' value and vocabularies)
    ALLO_VALUES,
    ANY,
    FIELDS,
    MARKER_KEYS,
    SCALAR_FIELDS,
    SET_FIELDS,
    THERAPY_KEYS,
    Eligibility,
)
from .rules import KeywordSet, load, norm_text
from .rules.needles import needles

_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NEAR = 60  # characters before a term in which a negation or a future word counts


# --- the table --------------------------------------------------------------------------------

class Rule(NamedTuple):
    field: str
    value: str
    section: str  # inclusion, exclusion or any
    regex: re.Pattern[str]
    note: str


def _expand(pattern: str, terms: Mapping[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"(?:{terms[m.group(1)]})", pattern)


def _load() -> tuple[list[Rule], dict[str, re.Pattern[str]]]:
    rows = load("eligibility")
    terms = {r["value"]: r["pattern"] for r in rows if r["field"] == "term"}
    for name, pattern in list(terms.items()):  # terms may use earlier terms
        terms[name] = _expand(pattern, terms)
    rules = [Rule(r["field"], r["value"], r["section"],
                  re.compile(r"(?<![a-z0-9])(?:" + _expand(r["pattern"], terms) + r")(?![a-z0-9])"), r["note"])
             for r in rows if r["field"] not in {"term", "cue"}]
    cues = {r["value"]: re.compile(_expand(r["pattern"], terms)) for r in rows if r["field"] == "cue"}
    return rules, cues


RULES, CUES = _load()
_BY_FIELD: dict[str, list[Rule]] = {}
for _rule in RULES:
    _BY_FIELD.setdefault(_rule.field, []).append(_rule)
del _rule


# --- the text: criteria, sections, clauses ----------------------------------------------------

@dataclass(frozen=True)
class Criterion:
    section: str  # inclusion, exclusion or donor
    text: str  # as written (whitespace collapsed): the evidence a person reads
    clauses: tuple[str, ...]  # normalised
    alternatives: tuple[str, ...] = ()  # items joined by a trailing "or" ("a, or" / "b, or" / "c"), normalised
    cohort: bool = False  # under a heading for one cohort, arm or part ("Additional criteria for Cohort B:")


_BULLET = re.compile(r"^\s*(?:[-*•·▪◦o]\s+|\(?\d{1,2}[.)]\s*|\(?[a-z][.)]\s+|"
                     r"\(?(?:i|ii|iii|iv|v|vi|vii|viii|ix|x)\)\s+)")
_HEADING = re.compile(r"(?i)^\W*(?:[a-z0-9/ ()-]{0,40}?)\b(inclusion|exclusion|eligibility|donors?|recipients?|"
                      r"patients?|cohort|part|arm)\b[^:]{0,60}:\s*(.*)$")
# The registry's older (PDQ) layout runs criteria together without punctuation: "... in first relapse
# At least 3 months of complete remission No history of ... Chemotherapy: No prior ...". A criterion
# there opens with a capitalised word after a lower-case one; these openers (and "Label:" headings of
# up to three words) start a new criterion.
_PDQ_OPENERS = ("No", "Not", "None", "At least", "At most", "Prior", "Previous", "Recovered", "Must", "History",
                "Concurrent", "More than", "Less than", "Fewer than", "Greater than", "Any", "Only", "Patients",
                "Patient", "Age", "Performance status", "Life expectancy", "In", "Newly", "First", "Second", "Third",
                "Relapsed", "Refractory", "Untreated", "Previously", "Secondary", "De novo", "Ineligible", "Eligible",
                "Able", "Willing", "Negative", "Positive", "Documented", "Diagnosis", "Histologically", "Meets",
                "Candidate", "Candidates", "Failed", "Primary", "Persistent", "Recurrent", "Excluded", "Allowed",
                "Prior", "Hydroxyurea", "Stratum", "Cohort", "Part", "OR", "AND")
_PDQ_SPLIT = re.compile(r"(?<=[a-z0-9)%\]]) (?=(?:" + "|".join(_PDQ_OPENERS) + r")\b(?! *[a-z]+:))|"
                        r"(?<=\S) (?=[A-Z][a-z]+(?:[ /][A-Za-z]+){0,2}: |[A-Z]{3,}(?: [A-Z/]{2,}){0,3}: )")
_BARE_HEADING = re.compile(r"(?i)^\W*(?:key |main |general |donor |patient |recipient )?(?:inclusion|exclusion)"
                           r"(?: criteria)?\W*$")
_CLAUSE = re.compile(r";\s|；|(?<=[a-z)\]%])(?<!e\.g)(?<!i\.e)(?<!\bvs)(?<!\bapprox)(?<!\b[a-z])\.\s")
_TRANSLOCATION = re.compile(r"\(\s*(\d+)\s*;\s*(\d+)\s*\)")


def _normalise(text: str) -> str:
    text = norm_text(text.replace("\\", ""))
    for old, new in (("≤", "<="), ("≥", ">="), ("=<", "<="), ("=>", ">="), ("＜", "<"), ("＞", ">"),
                     ("naïve", "naive"), ("’", "'"), ("＋", "+")):
        text = text.replace(old, new)
    return _TRANSLOCATION.sub(r"(\1;\2)", text)


def _section_of(heading: str, current: str) -> str:
    low = heading.lower()
    if "donor" in low and not re.search(r"recipient|patient", low):
        return "donor"
    if "exclu" in low:
        return "exclusion"
    if "inclu" in low or (current == "donor" and re.search(r"recipient|patient", low)):
        return "inclusion"
    return current


def _opens_section(raw: str, head: re.Match[str]) -> bool:
    """Whether a "Label: ..." line opens a section: a heading alone on its line, or an inclusion /
    exclusion / donor heading; not a bullet labelled "Donors: ..." (that one item is about the donor)."""
    word = head.group(1).lower()
    if not head.group(2):
        return True
    if word in {"donor", "donors"}:
        label = head.group(0)[:head.start(2)]
        return not (_BULLET.match(raw) and not re.search(r"(?i)criteri|eligib|characteristic", label))
    return word in {"inclusion", "exclusion"}


# A later stage of the study: its criteria concern patients already on it ("Second randomization:",
# "Step 2 registration", "Post-transplant eligibility criteria"), not who may enter.
_LATER_STAGE = re.compile(r"(?i)^\W*(?:(?:second|2nd|third|3rd|subsequent|later) "
                          r"(?:randomi[sz]ation|registration|step|stage)|step (?:2|ii|3|iii)\b|"
                          r"post-?transplant(?:ation)? (?:eligibility|inclusion|exclusion)|"
                          r"(?:maintenance|consolidation) (?:randomi[sz]ation|registration|eligibility))")
_FIRST_STAGE = re.compile(r"(?i)^\W*(?:first|1st|initial) (?:randomi[sz]ation|registration|step|stage)|"
                          r"^\W*step (?:1|i)\b")


def _later_stage(line: str, later: bool) -> bool:
    """Whether the criteria from ``line`` on belong to a later stage of the study."""
    if _LATER_STAGE.match(line):
        return True
    return later and not _FIRST_STAGE.match(line)


def _items(text: str) -> Iterable[tuple[str, str, int]]:
    """(section, item text, indentation of its bullet) for each criterion, in order; the section is
    ``later`` for the criteria of a later stage of the study."""
    section, parts, depth = "inclusion", list[str](), 0  # (text before any heading reads as inclusion criteria)
    later = item_later = cohort = False
    for raw in text.replace("\\", "").splitlines():
        line = raw.strip()
        if not line:
            if parts:
                yield _where(section, item_later, cohort), " ".join(parts), depth
                parts = []
            continue
        if _BARE_HEADING.match(line):
            line = line.rstrip(" :") + ":"
        head = _HEADING.match(line) if len(line) < 140 else None
        if head and _opens_section(raw, head):
            if parts:
                yield _where(section, item_later, cohort), " ".join(parts), depth
                parts = []
            later = bool(_LATER_STAGE.match(line))  # (a new heading ends a later stage, unless it is one)
            cohort = _one_cohort(line[: head.start(2)].lower())  # ("Inclusion criteria for Cohort B:")
            section = _section_of(line[: head.start(2)], section)
            line = head.group(2).strip()
            if not line:
                continue
        label = parts and parts[-1].endswith(":") and len(" ".join(parts)) <= 40  # "Performance status:\n0-2"
        short_label = label and len(parts) == 1 and len(parts[0].split()) <= 3  # "Performance status:\n- 0-2"
        new_label = not _BULLET.match(raw) and line.endswith(":") and len(line.split()) <= 3 and line[:1].isupper()
        if parts and ((_BULLET.match(raw) and not short_label) or new_label
                      or (parts[-1].endswith((";", ".", ":", "；")) and not label)):
            yield _where(section, item_later, cohort), " ".join(parts), depth
            parts = []
        bare = _BULLET.sub("", line, count=1) if _BULLET.match(raw) else line
        later = _later_stage(bare, later)
        if not parts:
            depth, item_later = (len(raw) - len(raw.lstrip()) if _BULLET.match(raw) else 0), later
        parts.append(bare)
    if parts:
        yield _where(section, item_later, cohort), " ".join(parts), depth


def _where(section: str, later: bool, cohort: bool) -> str:
    """The section an item is yielded with: ``later`` for a later stage, ``+cohort`` under a cohort heading."""
    return "later" if later else section + ("+cohort" if cohort else "")


_OR_END = re.compile(r"(?:^|[\s,;])(?:or|and/or)\s*[;:,]?$")  # (not the end of "donor", "inhibitor", "tumor")


_OR_START = re.compile(r"(?i)^(?:or|and/or)\b")


# "... with any of the following:", "meeting at least one of the following criteria:"
_ANY_OF = re.compile(r"(?i)\b(?:any|one|1|either|at least (?:one|1)|one or more)(?: \w+)? of the following\b"
                     r"[^:]{0,60}:$")


class _Group(NamedTuple):
    section: str
    items: list[str]
    first_alternative: int  # 1 when items[0] is an "any of the following:" head, 0 for "or" items, -1 for the
    # items indented under another "...:" head (conditions that all apply)


def _joined_alternatives(items: Iterable[tuple[str, str, int]]) -> list[_Group]:
    """Items joined into one group: items joined by "or" (one ending in "or", or the next opening with "OR"),
    and the items indented under a "...:" head (alternatives under "any of the following:")."""
    groups: list[_Group] = []
    open_, list_depth = False, -1
    for section, item, depth in items:
        same = bool(groups) and groups[-1].section == section
        if same and list_depth >= 0 and depth > list_depth:
            groups[-1].items.append(item)
        elif same and (open_ or _OR_START.match(item)):
            groups[-1].items.append(item)
        else:
            head = item.rstrip().endswith(":")
            list_depth = depth if head else -1
            groups.append(_Group(section, [item], 1 if _ANY_OF.search(item.strip()) else -int(head)))
        open_ = bool(_OR_END.search(item.lower()))
    return groups


def criteria(text: str) -> list[Criterion]:
    """The criteria of an eligibility text, each with its section and normalised clauses."""
    out = []
    items = ((section, piece, depth) for section, item, depth in _items(text or "")
             for piece in _PDQ_SPLIT.split(item))
    for where, group, first in _joined_alternatives(items):
        section, _, scope = where.partition("+")
        item = " ".join(group)
        norm = _normalise(item if first == 0 else "; ".join(group))  # (indented items: a clause each)
        if not norm:
            continue
        clauses = tuple(c.strip() for c in _CLAUSE.split(norm) if c.strip())
        if section != "donor" and CUES["donor"].search(norm):
            section = "donor"
        if first < 0 and any(_OR_END.search(g.lower()) for g in group[1:-1]):
            first = 1  # ("defined as:" / "A, or" / "B": alternatives)
        alternatives = tuple(_normalise(g) for g in group[first:]) if len(group) > 1 and first >= 0 else ()
        out.append(Criterion(section, " ".join(item.split()), clauses, alternatives, scope == "cohort"))
    return out


# --- the facts --------------------------------------------------------------------------------

class Finding(NamedTuple):
    field: str
    value: Any
    sentence: str


def _number(text: str) -> int:
    text = text.strip()
    return _NUMBERS[text] if text in _NUMBERS else int(text)


def _kps_to_ecog(kps: int) -> int:
    """The lowest Karnofsky/Lansky score allowed -> the worst ECOG allowed (90-100=0, 70-80=1, ...)."""
    for low, ecog in ((90, 0), (70, 1), (50, 2), (30, 3)):
        if kps >= low:
            return ecog
    return 4


def _ecog_value(code: str, match: re.Match[str]) -> tuple[str, int | None]:
    """(scale, worst ECOG allowed) from one max_ecog row's match."""
    digits = [int(d) for d in re.findall(r"\d+", match.group("n"))]
    n = digits[-1] if code != "ecog_excluded_list" else min(digits)
    values = {"ecog_max": max(digits), "ecog_below": n - 1, "ecog_excluded_from": n - 1, "ecog_excluded_list": n - 1,
              "ecog_excluded_above": n, "kps_min": _kps_to_ecog(n), "kps_above": _kps_to_ecog(n + 10),
              "kps_excluded_below": _kps_to_ecog(n), "kps_excluded_max": _kps_to_ecog(n + 10)}
    value = values[code]
    return ("kps" if code.startswith("kps") else "ecog"), (value if 0 <= value <= 4 else None)


def _lines_value(code: str, match: re.Match[str]) -> int:
    groups = match.groupdict()
    n = _number(groups.get("n") or groups.get("m") or "0")
    return n - 1 if code in {"below", "from_excluded"} else n


def _applies(rule: Rule, section: str) -> bool:
    return rule.section == "any" or rule.section == section


def _before(clause: str, start: int, cue: str, span: int = _NEAR) -> bool:
    return bool(CUES[cue].search(clause, max(0, start - span), start))


def _negated(clause: str, m: re.Match[str]) -> bool:
    """Negated by a word just before or after, or by a criterion that opens with "No"/"Not" (the
    registry's way of writing an exclusion among inclusion criteria: "No prior transplant")."""
    return (_before(clause, m.start(), "negation", 40) or bool(CUES["negation_after"].match(clause, m.end()))
            or (0 < m.start() < 100 and _NO_OPENING.match(clause) is not None))


_NO_OPENING = re.compile(r"(?:[a-z ]{0,30}: )?(?:no|not|none|never)\b(?! (?:more|greater|less|fewer) than)")


def _future(clause: str, start: int) -> bool:
    """A future word after the last word of prior treatment before ``start``."""
    head = clause[max(0, start - _NEAR):start]
    future = [m.end() for m in CUES["future"].finditer(head)]
    prior = [m.end() for m in CUES["prior"].finditer(head) if m.end() < len(head) - 1]  # ("post-" of the term itself
    # is not a prior word: "planned post-transplant immune suppression")
    return bool(future) and (not prior or future[-1] > prior[-1])


@lru_cache(maxsize=4096)
def _has(cue: str, clause: str) -> bool:
    return bool(CUES[cue].search(clause))


class Live:
    """The rules to try on one clause of a study's criteria: ``live(field, clause)`` is, in table order,
    the rules of ``field`` that match somewhere in the study's whole text (``text``: its criteria
    normalised, clauses joined with " ; ") and have a match in ``clause`` — the only rules whose
    findings there are not empty (the same findings as trying every rule, found several times faster).

    A rule none of whose needles (literals every match contains, read from its pattern) is in the
    clause is not searched there; the whole text is searched for a rule only once one of its clauses
    matched (tests/test_needles.py compares this with searching every rule)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._whole: dict[int, bool] = {}  # id(rule.regex) -> the rule matches somewhere in the text
        self._candidates: dict[str, dict[str, list[Rule]]] = {}  # clause -> field -> rules with a needle there

    def __call__(self, field: str, clause: str) -> list[Rule]:
        candidates = self._candidates.get(clause)
        if candidates is None:
            candidates = self._candidates[clause] = _candidates(_NEEDLES.positions(clause).keys())
        return [rule for rule in candidates.get(field, ()) if rule.regex.search(clause) and self._in_text(rule)]

    def _in_text(self, rule: Rule) -> bool:
        found = self._whole.get(id(rule.regex))
        if found is None:
            found = self._whole[id(rule.regex)] = rule.regex.search(self.text) is not None
        return found


def live_rules(text: str) -> dict[str, list[Rule]]:
    """The rules, by field, that match somewhere in ``text`` (every rule searched: the reference for
    :class:`Live`)."""
    return {name: [rule for rule in rules if rule.regex.search(text)] for name, rules in _BY_FIELD.items()}


_RULE_NEEDLES = {id(rule.regex): needles(rule.regex.pattern) for rule in RULES}
_NEEDLES = KeywordSet(n for found in _RULE_NEEDLES.values() if found for n in sorted(found))


_ALWAYS = frozenset(k for k, rule in enumerate(RULES) if _RULE_NEEDLES[id(rule.regex)] is None)
_BY_NEEDLE: dict[str, list[int]] = {}
for _k, _rule in enumerate(RULES):
    for _needle in _RULE_NEEDLES[id(_rule.regex)] or ():
        _BY_NEEDLE.setdefault(_needle, []).append(_k)
del _k, _rule, _needle


def _candidates(present: Iterable[str]) -> dict[str, list[Rule]]:
    """The rules, by field and in table order, that may match a text holding the needles ``present``."""
    chosen = set(_ALWAYS)
    for needle in present:
        chosen.update(_BY_NEEDLE[needle])
    out: dict[str, list[Rule]] = {}
    for k in sorted(chosen):
        out.setdefault(RULES[k].field, []).append(RULES[k])
    return out


def _may_match(rule: Rule, present: Iterable[str]) -> bool:
    found = _RULE_NEEDLES[id(rule.regex)]
    return found is None or not found.isdisjoint(present)


# --- reading one criterion --------------------------------------------------------------------

def _ecog(c: Criterion, live: Live) -> list[Finding]:
    found = []
    for clause in c.clauses:
        for rule in live("max_ecog", clause):
            if _applies(rule, c.section):
                for m in rule.regex.finditer(clause):
                    scale, value = _ecog_value(rule.value, m)
                    if value is not None:
                        found.append(Finding(f"max_ecog:{scale}", value, c.text))
    return found


def _lines(c: Criterion, live: Live) -> list[Finding]:
    return [Finding("max_prior_lines", _lines_value(rule.value, m), c.text)
            for clause in c.clauses for rule in live("lines", clause) if _applies(rule, c.section)
            for m in rule.regex.finditer(clause)]


def _allo(c: Criterion, live: Live) -> list[Finding]:
    found, mentioned = [], []
    for clause in c.clauses:
        for m in (m for rule in live("allo", clause) for m in rule.regex.finditer(clause)):
            mentioned.append(clause)
            value = _allo_value(c.section, clause, m)
            if value == "required" and not _every_alternative(c, m.re):
                value = "allowed"  # another "or" route admits patients without a transplant
            if value == WINDOW_ONLY:
                found.append(Finding("prior_allo_hct:window", "allowed", c.text))
            elif value:
                found.append(Finding("prior_allo_hct", value, c.text))
        found += [Finding("prior_allo_hct", _gvhd_value(clause, m), c.text)
                  for rule in live("gvhd", clause) if c.section == "inclusion" for m in rule.regex.finditer(clause)
                  if not (_negated(clause, m) or CUES["excluded_after"].search(clause, m.end()))]
    if found:  # the window may be in another clause of the criterion ("allowed if:" / "- >= 60 days from transplant")
        windows = {_allo_window(c.section, clause) for clause in dict.fromkeys(mentioned)} - {(None, None)}
        found += [Finding("allo_days", window, c.text) for window in windows]
    return found


def _gvhd_value(clause: str, m: re.Match[str]) -> str:
    """A GVHD entry criterion: "required" for a diagnosis demanded ("diagnosis of steroid-refractory
    GVHD"), "allowed" for patients with GVHD merely admitted ("patients with mild GVHD are eligible")."""
    diagnosed = not re.match(r"(?:patients?|subjects?|participants?) with (?!a diagnosis)", m.group())
    return "required" if diagnosed or not _has("allowed", clause) else "allowed"


_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_SPAN = r"(?P<n>\d{1,4}) ?(?P<unit>day|week|month|year)s?"
_DAY_RANGE = re.compile(r"\bdays? \+?(?P<a>\d{1,4}) ?(?:-|to|and|through) ?(?:day )?\+?(?P<b>\d{1,4})\b"
                        r"|\b(?P<c>\d{1,4}) ?(?:-|to) ?(?P<d>\d{1,4}) days? (?:after|from|since|post)")
_AT_LEAST = re.compile(r"(?:>=|>|at least|more than|greater than|minimum of|a minimum of|beyond|over|"
                       r"no (?:less|fewer) than) ?" + _SPAN + r"|\bbeyond day \+?(?P<day>\d{1,4})")
_WITHIN = re.compile(r"(?:within|<=|<|less than|fewer than|no more than|up to|before) "
                     r"(?:the (?:last|past|first|previous|preceding) )?"
                     r"(?:day \+?(?P<day>\d{1,4})|" + _SPAN + ")")


def _days(m: re.Match[str]) -> int:
    if m.groupdict().get("day"):
        return int(m.group("day"))
    return int(m.group("n")) * _UNIT_DAYS[m.group("unit")]


def _allo_window(section: str, clause: str) -> tuple[int | None, int | None]:
    """(fewest, most) days since the transplant a transplant criterion admits: "at least 100 days after"
    -> (100, None); in the exclusion criteria (or negated) "within 100 days" -> (100, None); in the
    inclusion criteria "within 60 days after" -> (None, 60); "day 30 to 100 post-transplant" -> (30, 100)."""
    if span := _DAY_RANGE.search(clause):
        low, high = (span.group("a"), span.group("b")) if span.group("a") else (span.group("c"), span.group("d"))
        return int(low), int(high)
    least, within = _AT_LEAST.search(clause), _WITHIN.search(clause)
    low, high = (_days(least) if least else None), None
    if within and (section == "exclusion" or _NO_OPENING.match(clause)):
        low = max(low or 0, _days(within))  # "allogeneic HCT within 100 days" excludes: >= 100 days admitted
    elif within:
        high = _days(within)
    return low, high


def _patients_transplant(clause: str, m: re.Match[str]) -> bool:
    """Whether a transplant mention may be one the patient received: not one for another disease only,
    autologous, in an organisation's name, planned, or a time point."""
    if _has("other_disease", clause) and not _has("aml", clause):
        return False  # a transplant for another disease only
    if _before(clause, m.start(), "autologous", 15) and not _ALLOGENEIC.search(m.group()):
        return False  # "(autologous HCT is allowed)", though "allogeneic" is said elsewhere in the clause
    allogeneic = _ALLOGENEIC.search(m.group()) or _ALLOGENEIC.search(clause)
    if not allogeneic and _has("autologous", clause[:m.start()]):
        return False  # "failed autologous transplant ... > 1 year post-transplant"
    if CUES["organisation_before"].search(clause, 0, m.start()):
        return False  # "American Society for Blood and Marrow Transplantation"
    return not (_future(clause, m.start()) or "organ" in clause[max(0, m.start() - 12):m.start()]
                or CUES["future_after"].match(clause, m.end())
                or CUES["timepoint_before"].search(clause, 0, m.start()))


def _allo_value(section: str, clause: str, m: re.Match[str]) -> str | None:
    """What one transplant mention says: required / excluded / allowed, or None (not about a prior
    allogeneic transplant of the patient)."""
    if not _patients_transplant(clause, m):
        return None
    if section == "exclusion":
        said_prior = _before(clause, m.start(), "prior", 80) or m.start() < 15
        if _before(clause, m.start(), "negation", 30) or not said_prior:
            return None
        if _has("allo_allowed", clause) or _has("allo_conditions", clause):
            return "allowed"
        return WINDOW_ONLY if _has("window", clause) else "excluded"
    if _negated(clause, m):  # "no prior allogeneic HCT" / "no GVHD and >= 3 months since transplant"
        if _has("allo_conditions", clause) or _has("allo_since", clause):
            return "allowed"
        return WINDOW_ONLY if _has("window", clause) else "excluded"
    allowed_near = CUES["allo_allowed"].search(clause, 0, m.end() + _NEAR)  # (not a later, unrelated "if")
    if allowed_near or _has("allo_since", clause):
        return "allowed" if allowed_near or _before(clause, m.start(), "prior", 80) else None
    if not _has("allo_required", clause[:m.start()]):
        return None
    subject = _CONDITIONED_SUBJECT.search(clause, 0, m.start())
    if subject and CUES["demand"].search(clause, subject.end()):
        return "allowed"  # "patients who have undergone allogeneic HSCT must be >= 100 days post-transplant"
    if CUES["alternative_before"].search(clause[max(0, m.start() - 30):m.start()]):
        return "allowed"
    return "required"


_CONDITIONED_SUBJECT = re.compile(r"\b(?:patients|participants|subjects|those|individuals|anyone) (?:who|that|with) ")
_ALLOGENEIC = re.compile(r"\ballo(?:geneic|genic|-|\b)")
#: a transplant excluded only within a time window ("allogeneic HCT within 60 days"): allowed after it,
#: unless another criterion excludes a prior transplant outright (then the window is a mere washout)
WINDOW_ONLY = "allowed:window"


def _markers(c: Criterion, live: Live) -> list[Finding]:
    found = []
    for k, clause in enumerate(c.clauses):
        earlier = " ; ".join(c.clauses[:k])  # a risk list may begin in an earlier clause
        for rule in live("marker", clause):
            for m in rule.regex.finditer(clause):
                kind = _marker_kind(c.section, clause, m, earlier)
                if kind and c.section == "inclusion" and (c.cohort or _one_cohort(clause)):
                    kind = None  # a marker of one cohort: another cohort admits patients without it
                if kind == "required_markers" and not _marker_in_every_alternative(c, live):
                    kind = None  # another "or" alternative admits patients without a marker
                found += [Finding(kind, key, c.text) for key in rule.value.split(";")] if kind else []
    return found


def _marker_in_every_alternative(c: Criterion, live: Live) -> bool:
    """Whether each "or" alternative of the criterion (if any) names a marker ("FLT3-ITD, or" / "IDH1
    mutation": both listed; "secondary AML, or" / "FLT3 mutation": neither is required)."""
    return all(live("marker", alt) for alt in _aml_alternatives(c))


_DRUG_AFTER = re.compile(r"(?:-? (?:or|and|/) [a-z0-9-]+?)?"
                         r"(?:[- ](?:itd|tkd|mutation|mutated|mutant|positive|wild[- ]type))?[- ]?"
                         r"(?:\(?[a-z]+(?:-[a-z]+)?\)? ){0,2}"
                         r"(?:inhibitor|tki|directed|targeted|targeting|antibod|ligand|car\b|car-|"
                         r"bispecific|specific|engager|adc|bite|dart|x ?cd3|conjugate|vaccine)")


_POSITIVE = re.compile(r"(?:[- ]?(?:positive|\+))?[ -]?")


_PROTOCOL_AFTER = re.compile(r"[- ](?:protocols?|studies|study|trials?)\b")
_SUBGROUP_DEMAND = re.compile(r"\)?(?:[- ]?(?:positive|\+|mutated|mutation|rearranged))?\s?(?:\([^)]{0,20}\)\s?)?"
                              r"(?:patients |subjects |participants |disease |aml |all )?(?:must|should|need|require)")


def _marker_kind(section: str, clause: str, m: re.Match[str], earlier: str = "") -> str | None:
    after = _POSITIVE.match(clause, m.end())
    if after and CUES["other_disease"].match(clause, after.end()):
        return None  # "Philadelphia chromosome positive CML": a marker of another disease, not of the AML
    if _DRUG_AFTER.match(clause, m.end()) or clause[max(0, m.start() - 6):m.start()].endswith(("anti-", "anti ")):
        return None  # a drug against the marker, not the marker itself
    if section == "exclusion":
        return None if _negated(clause, m) else "excluded_markers"
    if _PROTOCOL_AFTER.match(clause, m.end()):
        return None  # "ineligible for an APL protocol": a study for the marker, not the patient's marker
    if _SUBGROUP_DEMAND.match(clause, m.end()):
        return None  # "Ph+ (patients) must have received 2 TKIs": a demand on the marker's subgroup
    if CUES["exception"].search(clause, max(0, m.start() - 20), m.start()):
        return "excluded_markers"  # "all subtypes except M3 are eligible"
    if CUES["optional"].search(clause, m.end(), m.end() + 30):
        return None  # "APL (M3) allowed if ineligible for ...": admitted, under conditions
    if CUES["exception"].search(clause, 0, m.start()):
        return "excluded_markers"
    if CUES["risk"].search(clause, 0, m.start()) or CUES["risk"].search(earlier):
        return None
    if _negated(clause, m) or CUES["excluded_after"].search(clause, m.end(), m.end() + _NEAR):
        return None if _has("conditional", clause[m.end():]) else "excluded_markers"
    if _has("optional", clause) or _has("conditional", clause[:m.start()]) or _has("other_disease", clause):
        return None
    return "required_markers"


def _one_cohort(clause: str) -> bool:
    """A criterion for one cohort, arm or part only ("Arm B: FLT3 wild-type AML"), not "all cohorts"."""
    cohort = CUES["cohort"].search(clause)
    if cohort is None:
        return False
    return not re.search(r"\b(?:all|both|each|every|any)\s*$", clause[:cohort.start()])


def _therapies(c: Criterion, live: Live) -> list[Finding]:
    found = []
    for clause in c.clauses:
        for rule in live("therapy", clause):
            for m in rule.regex.finditer(clause):
                kind = _therapy_kind(c.section, clause, m)
                if kind == "required_prior_therapies" and _other_treatment_or(clause, m, rule):
                    kind = None  # "after intensive chemotherapy or an HMA": either one
                if kind == "required_prior_therapies" and not _required_in_every_alternative(c, rule):
                    kind = None  # another "or" route admits patients without it
                if kind == "required_prior_therapies" and c.cohort:
                    kind = "required_prior_therapies:cohort"  # (under a heading for one cohort)
                found += [Finding(kind, key, c.text) for key in rule.value.split(";")] if kind else []
    return found


_BRACKETS = re.compile(r"\([^()]*\)")


def _therapy_kind(section: str, clause: str, m: re.Match[str]) -> str | None:
    start = m.start()
    if _future(clause, start) or _has("window", clause) or _has("dose_limit", clause):
        return None
    if section == "exclusion":
        if _before(clause, start, "negation", 40) or _has("allowed", _BRACKETS.sub("", clause)):
            return None  # (an allowance in brackets is an exception: "(prior midostaurin is allowed)")
        if _has("intolerance", clause) and not _has("failure", clause):
            return None
        return "excluded_prior_therapies" if _has("prior", clause) or _has("exposure", clause) else None
    if _negated(clause, m) and not _has("failure", clause[:start]):
        return None if _has("intolerance", clause) else "excluded_prior_therapies"
    if CUES["excluded_after"].search(clause, m.end(), m.end() + _NEAR) and _has("prior", clause):
        return "excluded_prior_therapies"  # "prior treatment with gilteritinib is not allowed"
    if _has("intolerance", clause) and not _has("failure", clause):
        return None  # "recovered from the toxicity of prior chemotherapy": not a demand for it
    if not _before(clause, start, "prior", 200) or _has("allowed", clause) or _has("conditional", clause[:start]):
        return None
    return "required_prior_therapies:cohort" if _has("cohort", clause) else "required_prior_therapies"


def _aml_alternatives(c: Criterion) -> tuple[str, ...]:
    """The criterion's "or" alternatives, but those only about another disease ("or CML in blast phase")."""
    return tuple(alt for alt in c.alternatives
                 if not (_has("other_disease", alt) and not CUES["aml_not_apl"].search(alt)))


_OR_AFTER = re.compile(r",? (?:or|and/or) (?:an? |other |prior )?")
_OR_BEFORE = re.compile(r"([a-z0-9][\w+/-]*),? (?:or|and/or) (?:an? |other |prior )?$")
_ROUTE_WORD = re.compile(r"(?:refractory|relapsed|relapse|resistant|progress\w*|intoleran\w*|failed|failure|who|"
                         r"patients|persistent|recurrent)\b")


def _other_treatment_or(clause: str, m: re.Match[str], rule: Rule) -> bool:
    """Whether the therapy is named beside another treatment by "or" ("intensive chemotherapy or an HMA",
    "anthracycline or mitoxantrone"), not a synonym of its own ("azacitidine or decitabine")."""
    after = _OR_AFTER.match(clause, m.end())
    if after and not _ROUTE_WORD.match(clause, after.end()) and not rule.regex.match(clause, after.end()):
        return True
    before = _OR_BEFORE.search(clause, 0, m.start())
    if before is None:
        return False
    return not _ROUTE_WORD.match(before.group(1)) and not rule.regex.search(before.group(0))


def _every_alternative(c: Criterion, regex: re.Pattern[str]) -> bool:
    """Whether each of the criterion's "or" alternatives (if any) matches ``regex``."""
    return all(regex.search(alt) for alt in _aml_alternatives(c))


def _required_in_every_alternative(c: Criterion, rule: Rule) -> bool:
    """Whether each "or" alternative of the criterion (if any) demands the therapy of ``rule``."""
    return all(any(_therapy_kind("inclusion", clause, m) == "required_prior_therapies"
                   for clause in _CLAUSE.split(alt) for m in rule.regex.finditer(clause))
               for alt in _aml_alternatives(c))


def _routes(c: Criterion, live: Live) -> list[Finding]:
    return [f for clause in c.clauses for rule in live("route", clause) if _applies(rule, c.section)
            for m in rule.regex.finditer(clause) for f in _route(c, clause, rule, m)]


def _route_ignored(c: Criterion, clause: str, rule: Rule, m: re.Match[str]) -> bool:
    """Whether a route mention is not a route of entry for AML patients."""
    if (_has("other_disease", clause) or _has("other_cancer", clause)) and not _has("aml", clause):
        return True  # a route for another disease only
    if c.section == "inclusion" and rule.value != "no_prior_therapy" and _route_negated(rule, clause, m):
        return True
    if c.section == "exclusion" and (_has("window", clause) or _before(clause, m.start(), "negation", 30)):
        return True
    if rule.value == "previously_treated":
        planned = _TRANSPLANT.search(m.group()) and _future(clause, m.start())  # ("prophylaxis of GVHD after
        # allogeneic HCT": the study's own transplant)
        return bool(planned) or not _every_route(c, clause)
    return rule.value == "open_route" and not _open_route_of_its_own(c, clause, rule)  # (a qualifier of a
    # relapsed/refractory route, not a route of its own)


def _route(c: Criterion, clause: str, rule: Rule, m: re.Match[str]) -> list[Finding]:
    """The route findings of one route mention."""
    if _route_ignored(c, clause, rule, m):
        return []
    if rule.value == "untreated" and _beside_treated_route(c, clause, rule):
        # "untreated OR <= 2 prior regimens": treated and untreated patients may both enter
        return [Finding("route:open_route", "open_route", c.text),
                Finding("route:previously_treated", "previously_treated", c.text)]
    found = [Finding(f"route:{rule.value}", rule.value, c.text)]
    if rule.value == "previously_treated" and _has("subgroup", clause[:m.end()]):
        found.append(Finding("route:open_route", "open_route", c.text))  # the other subgroups may enter
    return found


_TRANSPLANT = re.compile(r"transplant|hsct|hct|sct|bmt")
_INLINE_OR = re.compile(r",? (?:or|and/or) (?=(?:who|patients|those|subjects|participants|in whom|for whom|for which|"
                        r"with|overt|newly|untreated|previously untreated|unfit|ineligible|not)\b)"
                        r"|, (?:or|and/or) |; or ")


def _parts(c: Criterion, clause: str) -> tuple[str, ...]:
    """The routes a criterion lists: its "or" alternatives, else the clause's inline ones ("..., or who
    have failed ..., or who refuse ..."); those only about another disease left out."""
    if c.alternatives:
        return _aml_alternatives(c)
    parts = _INLINE_OR.split(clause)
    return tuple(p for p in parts if not (_has("other_disease", p) and not CUES["aml_not_apl"].search(p))) or (clause,)


def _every_route(c: Criterion, clause: str) -> bool:
    """Whether every route the criterion lists presupposes treatment."""
    return all(_ROUTE_TREATED.regex.search(part) for part in _parts(c, clause))


def _open_route_of_its_own(c: Criterion, clause: str, rule: Rule) -> bool:
    """Whether an open route ("unfit for intensive chemotherapy") is a route of its own, not a qualifier of
    a relapsed/refractory one in the same alternative ("relapsed AML not fit for intensive salvage")."""
    return any(rule.regex.search(part) and not _ROUTE_TREATED.regex.search(part) for part in _parts(c, clause))


def _beside_treated_route(c: Criterion, clause: str, rule: Rule) -> bool:
    """Whether an untreated route is one alternative beside a route for treated patients ("relapsed AML OR
    newly diagnosed AML unfit for ...", "untreated OR at most 2 prior regimens"): both may enter."""
    return any(_ROUTE_TREATED.regex.search(part) or any(r.regex.search(part) for r in _BY_FIELD["lines"])
               for part in _parts(c, clause) if not rule.regex.search(part))


def _route_negated(rule: Rule, clause: str, m: re.Match[str]) -> bool:
    """An untreated route is negated only by a word just before it ("not newly diagnosed"); in "No prior
    induction allowed in newly diagnosed AML" the "No" belongs to the prior treatment."""
    if rule.value == "untreated":
        return _before(clause, m.start(), "negation", 20)
    return _negated(clause, m)


_ROUTE_TREATED = next(r for r in _BY_FIELD["route"] if r.value == "previously_treated")
READERS = (_ecog, _lines, _allo, _markers, _therapies, _routes)


# --- resolving the findings into the facts ----------------------------------------------------

def _evidence(findings: list[Finding], name: str, keep: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    wanted = {str(k) for k in keep}
    out: dict[str, list[str]] = {}
    for f in findings:
        if f.field.split(":")[0] == name and str(f.value) in wanted:
            sentences = out.setdefault(str(f.value), [])
            if f.sentence not in sentences:
                sentences.append(f.sentence)
    return {k: tuple(v) for k, v in out.items()}


def _resolve_ecog(findings: list[Finding]) -> tuple[int | None, list[Finding]]:
    for scale in ("max_ecog:ecog", "max_ecog:kps"):
        picked = [f for f in findings if f.field == scale]
        if picked:
            worst = max(f.value for f in picked)
            return worst, [f for f in picked if f.value == worst]
    return None, []


def _resolve_allo(findings: list[Finding]) -> str:
    values = {f.value for f in findings if f.field == "prior_allo_hct"}
    window_only = any(f.field == "prior_allo_hct:window" for f in findings)
    return next((v for v in ("required", "allowed", "excluded") if v in values),
                "allowed" if window_only else "not_stated")


def _resolve_allo_days(findings: list[Finding], allo: str) -> tuple[int | None, int | None]:
    """The window of days since the transplant stated in the sentences behind an allowed or required
    prior transplant: the latest "at least" and the earliest "at most" of them."""
    if allo not in {"allowed", "required"}:
        return None, None
    behind = {f.sentence for f in findings if f.field.startswith("prior_allo_hct") and f.value == allo}
    windows = [f.value for f in findings if f.field == "allo_days" and f.sentence in behind]
    lows = [low for low, _ in windows if low is not None]
    highs = [high for _, high in windows if high is not None]
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _required_on_every_route(findings: list[Finding]) -> set[str]:
    """The therapies demanded on every route: one named in a route's own criterion ("refractory to
    induction chemotherapy") is dropped when another criterion gives a route without it ("or relapsed
    after any therapy"), unless a criterion naming it is a demand of its own ("must have failed HiDAC")."""
    routes = {f.sentence for f in findings if f.field == "route:previously_treated"}
    required: set[str] = set()
    for key in {f.value for f in findings if f.field == "required_prior_therapies"}:
        where = {f.sentence for f in findings if f.field == "required_prior_therapies" and f.value == key}
        demanded = any(_has("demand", sentence.lower()) and not _OR_END.search(sentence.lower()) for sentence in where)
        if demanded or not (where & routes) or routes <= where:
            required.add(key)
    return required


def _resolve_therapies(findings: list[Finding]) -> tuple[set[str], set[str], list[Finding]]:
    routes = {f.value for f in findings if f.field.startswith("route:")}
    excluded = {f.value for f in findings if f.field == "excluded_prior_therapies"}
    extra: list[Finding] = []
    untreated_only = bool(routes & {"untreated", "no_prior_therapy"}) and "previously_treated" not in routes
    if untreated_only:
        excluded.add(ANY)
        extra = [Finding("excluded_prior_therapies", ANY, f.sentence) for f in findings
                 if f.field in {"route:untreated", "route:no_prior_therapy"}]
    required: set[str] = set()
    if not routes & {"untreated", "open_route"}:  # every route of entry demands prior treatment
        required = _required_on_every_route(findings)
        if "previously_treated" in routes or required:
            required.add(ANY)
            extra += [Finding("required_prior_therapies", ANY, f.sentence) for f in findings
                      if f.field == "route:previously_treated"]
    required -= excluded
    return required, excluded, extra


def _apl_target(text: str) -> bool:
    """APL is the target only when no inclusion criterion admits AML without naming APL."""
    return not any(CUES["aml_not_apl"].search(clause) and not CUES["apl"].search(clause)
                   for c in criteria(text) if c.section == "inclusion" for clause in c.clauses)


@lru_cache(maxsize=4096)
def extract(text: str) -> Eligibility:
    """The seven facts of an eligibility criteria text, with their evidence (facts are frozen, and depend
    on the text alone: a text met again — the same protocol in several records — is read once)."""
    text = text or ""
    read = [c for c in criteria(text) if c.section not in {"donor", "later"}]
    live = Live(" ; ".join(clause for c in read for clause in c.clauses))
    findings = [f for c in read for reader in READERS for f in reader(c, live)]
    ecog, ecog_findings = _resolve_ecog(findings)
    allo = _resolve_allo(findings)
    if allo == "required":  # a transplant is a prior treatment
        findings += [Finding("route:previously_treated", "previously_treated", f.sentence) for f in findings
                     if f.field == "prior_allo_hct" and f.value == "required"]
    allo_days = _resolve_allo_days(findings, allo)
    required, excluded, extra = _resolve_therapies(findings)
    findings += extra
    lines = [f.value for f in findings if f.field == "max_prior_lines" and f.value >= 0]
    max_lines = 0 if ANY in excluded else (max(lines) if lines else None)
    req_markers = {f.value for f in findings if f.field == "required_markers"}
    exc_markers = {f.value for f in findings if f.field == "excluded_markers"}
    exc_markers -= req_markers  # (a trial that targets a marker does not exclude it)
    if "PML-RARA" in req_markers and not _apl_target(text):
        req_markers.discard("PML-RARA")
    facts = Eligibility(
        max_ecog=ecog, prior_allo_hct=allo,
        required_markers=tuple(k for k in MARKER_KEYS if k in req_markers),
        excluded_markers=tuple(k for k in MARKER_KEYS if k in exc_markers),
        required_prior_therapies=tuple(k for k in THERAPY_KEYS if k in required),
        excluded_prior_therapies=tuple(k for k in THERAPY_KEYS if k in excluded),
        max_prior_lines=max_lines, allo_days=allo_days,
    )
    evidence = {
        "max_ecog": _evidence(ecog_findings, "max_ecog", [ecog]),
        "prior_allo_hct": _evidence(findings, "prior_allo_hct", [allo]),
        "max_prior_lines": _evidence(findings, "max_prior_lines" if ANY not in excluded else "excluded_prior_therapies",
                                     [max_lines] if ANY not in excluded else [ANY]),
    }
    if ANY in excluded:
        evidence["max_prior_lines"] = {"0": evidence["max_prior_lines"].get(ANY, ())}
    for name in SET_FIELDS:
        evidence[name] = _evidence(findings, name, getattr(facts, name))
    return Eligibility(**{name: getattr(facts, name) for name in FIELDS}, allo_days=allo_days,
                       text_given=bool(text.strip()), evidence=evidence)


def eligibility(facts: StudyFacts) -> Eligibility:
    """The eligibility facts of one study (its ``eligibility`` criteria text)."""
    return extract(facts.eligibility)
