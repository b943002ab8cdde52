"""Treatment categories (CATEGORIES.md): the vocabulary of ``rules/`` applied by one plain engine.

1. **Find.** Each intervention's name and other names are read word by word: a known agent or regimen
   (``rules/agents``, ``regimens.csv``), a general form (``forms.csv``: "CAR T cells", "bispecific",
   "allogeneic transplant", "chemotherapy regimen 1"…), else an INN stem (``stems.csv``: an unknown
   ``-tinib``). A name that matches nothing is looked up in its description, and a code name is placed by
   a drug-class phrase next to it in the record ("XYZ-123, an oral FLT3 inhibitor"). What is still
   unknown is reported as an *unrecognised intervention* — never guessed. Drugs named in the titles and
   arm descriptions (not after "failed", "prior"…) add to the interventions.
2. **Context.** What the whole study says (a transplant, immune cells, a GVHD study, supportive care as
   the question…) turns each hit into its categories by ``context.csv``: one loop, first matching row.
3. **Result.** Every category with its evidence ("Ziftomenib — menin inhibitor"); a study with none is
   ``other``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache

import pandas as pd

from ..source.facts import Intervention, StudyFacts
from .rules import KeywordSet, norm, norm_text
from .rules.needles import Needles, needles
from .rules.vocabulary import CATEGORY_KEYS, ContextRule, Rule, vocabulary
from .texts import CONDITIONING, texts

__all__ = ["CATEGORY_KEYS", "Classification", "classify", "rules_table"]

SUPPORTIVE_PURPOSES = frozenset({"SUPPORTIVE_CARE", "PREVENTION"})
_ACTIVE = frozenset({"targeted", "immunotherapy", "chemotherapy", "experimental"})
_DRUG_TYPES = frozenset({"DRUG", "BIOLOGICAL", "GENETIC", "COMBINATION_PRODUCT", ""})
_SUPPORTIVE_TYPES = frozenset({"BEHAVIORAL", "DIETARY_SUPPLEMENT"})
# Kinds a title or an arm description may add: named treatments, not procedures or supportive care.
_NAMED_KINDS = frozenset({"agent", "regimen", "cell", "engager"})
_CELL_KINDS = frozenset({"cell", "engager"})
_CLASS = frozenset({"class", "cell", "engager"})  # phrases that place a code name
_ANTIGEN = frozenset({"antigen"})

_TRANSPLANT_TITLE = re.compile(r"(?<![a-z])(?:transplant\w*|hsct|hct|bmt|sct|stem cell|cord blood|conditioning"
                               r"|gvhd|graft[- ]versus[- ]host|donor lymphocyte)")
_TRANSPLANT_NEG = re.compile(
    r"(?:inelig\w*|not eligible|unfit|not (?:a )?candidates?|unsuitable|without)\W+(?:\w+\W+){0,4}$")
_GVHD = re.compile(r"gvhd|graft[- ]versus[- ]host")
_MENTION_NEG = re.compile(r"(?:after|failed|failure of|failing|refractory to|resistant to|prior|pretreated with"
                          r"|previously treated with|intolerant (?:of|to)|exposed to)\W+(?:\w+\W+){0,3}$")
_CODE_NAME = re.compile(r"^\s*([a-z]{1,6}[- ]?\d{2,7}[a-z]?)\b", re.I)
_WITH_OR_WITHOUT = re.compile(r"(?:with or without|\+/-|±|versus|vs\.?|compared (?:with|to))\W+(?:\w+\W+){0,2}$")

_BEHAVIOURAL = Rule("supportive", "behavioural intervention", ("supportive",),
                    note="behavioural / supportive-care intervention")


@dataclass(frozen=True)
class Classification:
    categories: tuple[str, ...]
    evidence: dict[str, str]
    by_intervention: tuple[tuple[str, ...], ...]
    targets: tuple[str, ...]
    unrecognised: tuple[str, ...] = ()  # drug or biological interventions no rule knows
    fired: tuple[Rule, ...] = ()  # the rules that gave a category (for measuring the vocabulary)


@dataclass(frozen=True)
class _Span:
    rule: Rule
    start: int
    end: int
    text: str  # the words matched


@dataclass
class _Hit:
    rule: Rule
    source: int  # intervention index, or -1 for a title or arm description
    label: str  # what the evidence names: the intervention, or "venetoclax (title)"
    matched: str = ""  # the spelling that matched (a code, a brand…)
    conditioning: bool = False  # its own text or its arm speaks of conditioning
    with_cells: bool = False  # the same intervention names an immune-cell product


# --- find -----------------------------------------------------------------------------------------

@lru_cache(maxsize=16384)
def find(text: str, forms: frozenset[str] | None = None, stems: bool = True, free_text: bool = False
         ) -> tuple[_Span, ...]:
    """Every rule named in normalised ``text``, in order: agents and regimens, forms (of the kinds in
    ``forms``; None: all), then stems for the words nothing else covers. A match inside a longer one is
    dropped (the longer phrase wins). ``free_text``: a title or a description, where a code split by
    a space is no code ("day 101")."""
    vocab = vocabulary()
    words = [(m.group(), m.start(), m.end()) for m in re.finditer(r"[a-z0-9]+|[α-ω]+", text)]
    spans = [_Span(term.rule, words[i][1], words[j - 1][2], term.text if not term.is_name else "")
             for i, j, term in vocab.terms.find([w for w, _, _ in words], split_codes=not free_text)]
    index, form_needles = _form_needles()
    present = index.positions(text).keys()  # (a form none of whose needles is in the text cannot match)
    spans += [_Span(form.rule, m.start(), m.end(), "") for form, needed in zip(vocab.forms, form_needles, strict=True)
              if (forms is None or form.rule.kind in forms) and (needed is None or not needed.isdisjoint(present))
              for m in form.regex.finditer(text) if m.end() > m.start()]
    spans = _longest(spans)
    if stems:
        covered = [(s.start, s.end) for s in spans]
        for word, start, end in words:
            if any(a <= start and end <= b for a, b in covered):
                continue
            stem = next((s for s in vocab.stems if s.fits(word)), None)
            if stem is not None:
                spans.append(_Span(stem.rule, start, end, word))
    return tuple(sorted(spans, key=lambda s: (s.start, -s.end)))


@cache
def _form_needles() -> tuple[KeywordSet, tuple[Needles, ...]]:
    """The needles of each form's pattern (literals every match contains: :mod:`.rules.needles`), and
    one index of them all."""
    found = tuple(needles(form.regex.pattern) for form in vocabulary().forms)
    return KeywordSet(n for f in found if f for n in sorted(f)), found


def _longest(spans: list[_Span]) -> list[_Span]:
    """Spans not lying inside a longer span (antigens are kept: they only name a target)."""
    return [s for s in spans if s.rule.kind == "antigen" or not any(
        o is not s and o.rule.kind != "antigen" and o.start <= s.start and s.end <= o.end
        and (o.end - o.start) > (s.end - s.start) for o in spans)]


def _place_code(iv: Intervention, study_text: str) -> _Span | None:
    """A code-named agent no row knows, placed by the drug class named next to it (rule 11)."""
    code = _CODE_NAME.match(iv.name)
    if code is None:
        return None
    key = norm(code.group(1))
    for text in (norm_text(iv.description), study_text):
        for at in (m.start() for m in re.finditer(re.escape(key), text)):
            window = text[at + len(key):at + len(key) + 160], text[max(0, at - 120):at]
            for part, pick in zip(window, (0, -1), strict=True):
                classes = [s for s in find(part, _CLASS, stems=False, free_text=True) if s.rule.kind in _CLASS]
                if classes:
                    return classes[pick]
    return None


@lru_cache(maxsize=4096)
def _misspelt(name: str) -> _Span | None:
    """A drug name one or two letters away from a known name ("mycophenylate mofetil"): the nearest
    agent whose name is at least 90 % alike (names of 7 letters or more, never codes)."""
    if len(name) < 7 or any(c.isdigit() for c in name):
        return None
    known = vocabulary().spellings
    near = [k for k in known if k[:2] == name[:2] and abs(len(k) - len(name)) <= 2]  # (cheap first cut)
    close = difflib.get_close_matches(name, near, n=1, cutoff=0.9)
    if not close:
        return None
    return _Span(known[close[0]], 0, len(name), f"{name} ≈ {close[0]}")


def _intervention_hits(i: int, iv: Intervention, facts: StudyFacts) -> tuple[list[_Hit], bool]:
    """The hits of one intervention, and whether it is an unrecognised drug or biological."""
    spans = _own(find(norm(" ; ".join((iv.name, *iv.other_names)))))
    if not spans and iv.description and iv.type not in {"OTHER", "BEHAVIORAL"}:
        spans = _own([s for s in find(norm_text(iv.description), _CLASS, stems=False, free_text=True)
                      if s.rule.kind in {"agent", "regimen"} | _CLASS])
    if not spans and iv.type in _DRUG_TYPES:
        placed = _place_code(iv, texts(facts).context) or _misspelt(norm(iv.name))
        spans = [placed] if placed else []
    cells = any(s.rule.kind == "cell" or s.rule.role == "cell" for s in spans)
    conditioning = _conditioning(iv, facts)
    hits = [_Hit(s.rule, i, iv.name, s.text, conditioning, cells) for s in spans]
    if not hits and (iv.type in _SUPPORTIVE_TYPES or (iv.type not in {"DRUG", "BIOLOGICAL"}
                                                      and facts.primary_purpose == "SUPPORTIVE_CARE")):
        hits.append(_Hit(_BEHAVIOURAL, i, iv.name))
    return hits, not hits and iv.type in _DRUG_TYPES and bool(iv.name.strip())


def _own(spans: "tuple[_Span, ...] | list[_Span]") -> list[_Span]:
    """What one intervention gives: each rule once; beside a known agent or regimen, no class phrase,
    stem or "adds nothing" form (the other names describing it: "anti-CTLA-4 monoclonal antibody")."""
    kept = list({s.rule: s for s in reversed(spans) if s.rule.kind != "antigen"}.values())[::-1]
    if any(s.rule.kind in {"agent", "regimen"} for s in kept):
        kept = [s for s in kept if s.rule.kind not in {"class", "stem", "none"}]
    return kept


def _conditioning(iv: Intervention, facts: StudyFacts) -> bool:
    """The intervention's own description, or an arm that gives it, speaks of conditioning."""
    if CONDITIONING.search(norm_text(iv.description)):
        return True
    arms = texts(facts).arms  # (each arm's description normalised and searched once per study)
    return any(arms[k][1] for k, a in enumerate(facts.arm_groups)
               if iv.name in a.intervention_names or a.label in iv.arm_group_labels)


def _mentions(facts: StudyFacts) -> list[_Hit]:
    """Named treatments in the titles and arm descriptions (not after "failed", "prior"…)."""
    found = []
    sources = [(texts(facts).title, "title", False)]
    sources += [(text, f"arm {a.label}", conditioning)
                for a, (text, conditioning) in zip(facts.arm_groups, texts(facts).arms, strict=True)]
    for text, where, conditioning in sources:
        for span in find(text, _NAMED_KINDS, stems=False, free_text=True):
            if span.rule.kind in _NAMED_KINDS and not _MENTION_NEG.search(text, max(0, span.start - 80), span.start):
                found.append(_Hit(span.rule, -1, f"{text[span.start:span.end]} ({where})", span.text, conditioning))
    return found


# --- context --------------------------------------------------------------------------------------

class _Study:
    """What the whole study says: the conditions ``context.csv`` rows name."""

    def __init__(self, facts: StudyFacts, hits: list[_Hit], mentions: list[_Hit]) -> None:
        title, brief = texts(facts).title, texts(facts).brief_title
        raw = [set(h.rule.categories) for h in hits]
        self.title_transplant = any(not _TRANSPLANT_NEG.search(brief, 0, m.start())
                                    for m in _TRANSPLANT_TITLE.finditer(brief))
        self.subjects = self._subjects(brief)
        self.flags = {
            "always": True,
            "cells": any(h.rule.kind in _CELL_KINDS or h.rule.role in _CELL_KINDS for h in hits),
            # (a GVHD drug alone does not make a transplant study: a procedure, graft or conditioning does)
            "transplant": self.title_transplant or any("transplant" in h.rule.categories
                                                       and h.rule.group != "immunosuppressant" for h in hits),
            "gvhd_study": bool(_GVHD.search(title)),
            "chemo_backbone": any("chemotherapy" in h.rule.categories and h.rule.group != "enzyme"
                                  for h in hits + mentions),
            "supportive_purpose": facts.primary_purpose in SUPPORTIVE_PURPOSES,
            "no_active": not any(c & (_ACTIVE | {"transplant"}) for c in raw),
            "gcsf_question": self._growth_factor_compared(title),
        }
        self.flags["no_transplant"] = not self.flags["transplant"]

    @staticmethod
    def _subjects(brief: str) -> set[Rule]:
        """Rules the brief title presents as what is tested: the first treatment it names, and any it
        names after "with or without", "versus"…"""
        named = [s for s in find(brief, _NAMED_KINDS, stems=False, free_text=True) if s.rule.kind in _NAMED_KINDS]
        subjects = {named[0].rule} if named else set()
        return subjects | {s.rule for s in named if _WITH_OR_WITHOUT.search(brief, 0, s.start)}

    def _growth_factor_compared(self, title: str) -> bool:
        return any(s.rule.group == "growth_factor" and _WITH_OR_WITHOUT.search(title, 0, s.start)
                   for s in find(title, _NAMED_KINDS, stems=False, free_text=True))

    def holds(self, condition: str, hit: _Hit) -> bool:
        if condition == "conditioning":
            return hit.conditioning
        if condition == "same_intervention_cell":
            return hit.with_cells
        if condition == "subject":
            return hit.rule in self.subjects
        return self.flags[condition]

    def categories(self, hit: _Hit) -> tuple[str, ...]:
        """The hit's categories after the first context row that applies to it."""
        for row in _rows_for(hit.rule):
            if all(self.holds(c, hit) for c in row.when):
                return _apply(row, hit.rule.categories)
        return hit.rule.categories


@lru_cache(maxsize=None)
def _rows_for(rule: Rule) -> tuple[ContextRule, ...]:
    """The context rows that select ``rule``, in table order (worked out once per rule)."""
    return tuple(row for row in vocabulary().context if _selects(row, rule))


def _selects(row: ContextRule, rule: Rule) -> bool:
    what, _, value = row.selects.partition(":")
    if what == "any":
        return bool(rule.categories)
    if what == "category":
        return value in rule.categories
    return value in {"group": (rule.group,), "kind": (rule.kind,), "name": (rule.name,),
                     "target": rule.targets}.get(what, ())


def _apply(row: ContextRule, cats: tuple[str, ...]) -> tuple[str, ...]:
    if row.selects.startswith("category:"):
        replaced = row.selects.partition(":")[2]
        return tuple(dict.fromkeys(g for c in cats for g in (row.gives if c == replaced else (c,))))
    return row.gives


# --- result ---------------------------------------------------------------------------------------

@dataclass
class _Evidence:
    per: list[list[str]]
    by_category: dict[str, dict[str, None]] = field(default_factory=dict)
    targets: dict[str, None] = field(default_factory=dict)
    shown: set[tuple[str, Rule]] = field(default_factory=set)

    def add(self, hit: _Hit, cats: tuple[str, ...], antigens: tuple[str, ...]) -> None:
        for c in cats:
            if hit.source >= 0 and c not in self.per[hit.source]:
                self.per[hit.source].append(c)
            if hit.source < 0 and (c, hit.rule) in self.shown:
                continue  # already the evidence as an intervention: the title mention adds nothing
            self.shown.add((c, hit.rule))
            self.by_category.setdefault(c, {})[f"{hit.label.strip()[:80]} — {_note(hit)}"] = None
        if cats:
            self.targets.update(dict.fromkeys(hit.rule.targets))
            if hit.source >= 0 and {"targeted", "immunotherapy"} & set(cats):
                self.targets.update(dict.fromkeys(antigens))


def _note(hit: _Hit) -> str:
    rule = hit.rule
    if rule.kind == "agent" and hit.matched and norm(hit.matched) != norm(rule.name):
        return f"{hit.matched} = {rule.name}; {rule.note}"
    if rule.kind == "stem" and hit.matched:
        return f"{hit.matched}: {rule.note} stem"
    return rule.note


@lru_cache(maxsize=8192)
def _antigens(text: str) -> tuple[str, ...]:
    """Target antigens named in an intervention's name (a CD33 CAR-T -> CD33)."""
    return tuple(dict.fromkeys(t for s in find(text, _ANTIGEN, stems=False) if s.rule.kind == "antigen"
                               for t in s.rule.targets))


def classify(facts: StudyFacts) -> Classification:
    """Categories, evidence, implied targets and unrecognised interventions of one study."""
    n = len(facts.interventions)
    if facts.study_type == "OBSERVATIONAL":
        return Classification(("other",), {"other": "observational study: gives no study treatment"}, ((),) * n, ())
    hits: list[_Hit] = []
    unrecognised: list[str] = []
    for i, iv in enumerate(facts.interventions):
        found, unknown = _intervention_hits(i, iv, facts)
        hits += found
        if unknown:
            unrecognised.append(iv.name.strip())
    mentions = _mentions(facts)
    study = _Study(facts, hits, mentions)
    evidence = _Evidence([[] for _ in range(n)])
    fired: dict[Rule, None] = {}
    for hit in hits + mentions:
        antigens = _antigens(norm(hit.label)) if hit.source >= 0 else ()
        cats = study.categories(hit)
        evidence.add(hit, cats, antigens)
        if cats:
            fired[hit.rule] = None
    if study.title_transplant and facts.primary_purpose != "SUPPORTIVE_CARE" or study.flags["gvhd_study"]:
        evidence.by_category.setdefault("transplant", {})[f"title — {facts.title[:100]}"] = None
    if study.flags["gvhd_study"] and facts.primary_purpose == "SUPPORTIVE_CARE":
        why = "GVHD prevention/treatment is the supportive care tested"
        evidence.by_category.setdefault("supportive", {})[why] = None
    return _result(evidence, tuple(dict.fromkeys(unrecognised)), tuple(fired))


def _result(evidence: _Evidence, unrecognised: tuple[str, ...], fired: tuple[Rule, ...]) -> Classification:
    cats = tuple(c for c in CATEGORY_KEYS if c in evidence.by_category)
    order = {c: k for k, c in enumerate(CATEGORY_KEYS)}
    per = tuple(tuple(sorted(p, key=order.__getitem__)) for p in evidence.per)
    if not cats:
        why = "no study treatment matched a category rule"
        if unrecognised:
            why += "; unrecognised intervention: " + ", ".join(unrecognised)
        return Classification(("other",), {"other": why}, per, (), unrecognised, fired)
    return Classification(cats, {c: "; ".join(evidence.by_category[c]) for c in cats}, per,
                          tuple(evidence.targets), unrecognised, fired)


def rules_table() -> pd.DataFrame:
    """Every rule as a table, one row each, for review and ``trialfinder categories``."""
    rows = [{"term": r.name, "kind": r.kind, "category": ";".join(r.categories) or "-", "group": r.group,
             "target": ";".join(r.targets), "note": r.note, "source": r.source} for r in vocabulary().rules]
    return pd.DataFrame(rows, columns=["term", "kind", "category", "group", "target", "note", "source"])
