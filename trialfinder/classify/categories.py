"""Treatment categories (CATEGORIES.md): the lexicon in ``rules/lexicon.csv`` applied by one loop.

Each intervention's name and other names are matched against every lexicon term at once (token
lookup plus one alternation of the regex terms, see ``rules.Matcher``); the study's context (does it give a transplant? immune cells? is it a GVHD study?
is supportive care what it tests?) then turns each hit into categories by the boundary rules.
Drug names in the titles and arm descriptions add to the interventions; a code-named agent no rule
knows is placed by the class words around it in the record, or else called ``experimental``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from ..source.facts import Intervention, StudyFacts
from .rules import Matcher, _required_literal, load, norm, norm_text, term_regex
from .texts import texts

CATEGORY_KEYS = ("targeted", "immunotherapy", "transplant", "experimental", "chemotherapy", "supportive")
SUPPORTIVE_PURPOSES = frozenset({"SUPPORTIVE_CARE", "PREVENTION"})


@dataclass(frozen=True)
class Rule:
    term: str
    kind: str
    categories: tuple[str, ...]
    in_transplant: tuple[str, ...] | None  # None: same as categories
    with_cell_therapy: tuple[str, ...] | None
    targets: tuple[str, ...]
    note: str
    keywords: str = ""  # for a regex term: words one of which every match contains ("|"-separated)


@dataclass(frozen=True)
class Classification:
    categories: tuple[str, ...]
    evidence: dict[str, str]
    by_intervention: tuple[tuple[str, ...], ...]
    targets: tuple[str, ...]


def _cats(cell: str) -> tuple[str, ...]:
    return tuple(c for c in cell.split(";") if c and c != "-")


def _opt(cell: str) -> tuple[str, ...] | None:
    return None if cell == "" else _cats(cell)


_ROWS = load("lexicon")
_COLUMNS = ("term", "kind", "category", "in_transplant", "with_cell_therapy", "target", "note")
RULES: tuple[Rule, ...] = tuple(
    Rule(r["term"], r["kind"], _cats(r["category"]), _opt(r["in_transplant"]),
         _opt(r["with_cell_therapy"]), _cats(r["target"]), r["note"], r["keywords"])
    for r in _ROWS if r["kind"] != "antigen"
)
ANTIGENS = tuple((r["term"], r["target"]) for r in _ROWS if r["kind"] == "antigen")
_MATCHER = Matcher([r.term for r in RULES], [r.keywords for r in RULES])
_CLASS = tuple(r for r in RULES if r.kind in {"class", "engager", "cell"})  # words that place a code name
_CLASS_MATCHER = Matcher([r.term for r in _CLASS], [r.keywords for r in _CLASS])
_ANTIGEN_RE = re.compile("|".join(f"(?P<r{i}>{term_regex(t)})" for i, (t, _) in enumerate(ANTIGENS)))
# Kinds a title or arm description may add (named treatments, not procedures or supportive terms).
_NAMED_KINDS = frozenset({"drug", "code", "brand", "synonym", "stem", "regimen", "enzyme", "cell", "engager"})
_ACTIVE = frozenset({"targeted", "immunotherapy", "chemotherapy", "experimental"})
# Per rule: may a title or arm description add it (a named treatment against the leukemia)?
# Rules that make supportive care the subject when named in the title (rule 4).
_SUBJECT = frozenset(k for k, r in enumerate(RULES) if "supportive" in r.categories and r.kind != "ancillary")
_NAMED_ACTIVE = tuple(r.kind in _NAMED_KINDS and bool(_ACTIVE & set(r.categories)) for r in RULES)

_TRANSPLANT_WORDS = (r"transplant\w*", "hsct", "hct", "bmt", "sct", "stem cell", "cord blood", "conditioning", "gvhd",
                     r"graft[- ]versus[- ]host", "donor lymphocyte")
_TRANSPLANT_TITLE = re.compile(r"(?<![a-z])(?:" + "|".join(_TRANSPLANT_WORDS) + ")")
# A literal every match of each word contains: a title holding none of them is not searched.
_TRANSPLANT_NEEDLES = tuple(_required_literal(w) for w in _TRANSPLANT_WORDS)
if not all(_TRANSPLANT_NEEDLES):
    raise ValueError("every transplant title word needs a literal part")
_TRANSPLANT_NEG = re.compile(
    r"(?:inelig\w*|not eligible|unfit|not (?:a )?candidates?|unsuitable|without)\W+(?:\w+\W+){0,4}$")
_GVHD = re.compile(r"gvhd|graft[- ]versus[- ]host")
_TITLE_NEG_WORDS = ("after", "failed", "failure of", "failing", "refractory to", "resistant to", "prior", "pretreated with",
                    "previously treated with", "intolerant (?:of|to)", "exposed to")
_TITLE_NEG = re.compile(f"(?:{'|'.join(_TITLE_NEG_WORDS)})" + r"\W+(?:\w+\W+){0,3}$")
# Every match of _TITLE_NEG begins with one of these: none is searched for before the first of them.
_TITLE_NEG_LEADS = tuple(dict.fromkeys(re.split(r"[^a-z ]", w, maxsplit=1)[0] for w in _TITLE_NEG_WORDS))
if not all(_TITLE_NEG_LEADS):
    raise ValueError("every title negation must begin with a plain word")


def _first_lead(text: str) -> int:
    """Where the first negation word of _TITLE_NEG begins in ``text`` (-1: nowhere, no match)."""
    found = [i for i in (text.find(lead) for lead in _TITLE_NEG_LEADS) if i >= 0]
    return min(found) if found else -1
_CONDITIONING_TIME = re.compile(r"days? ?-\d|\bd ?-\d|condition|preparative|myeloablat")
_CODE_NAME = re.compile(r"^\s*([a-z]{1,6}[- ]?\d{2,7}[a-z]?)\b", re.I)
_WITH_OR_WITHOUT = re.compile(r"(?:with or without|\+/-|±|versus|vs\.?|compared (?:with|to))\W+(?:\w+\W+){0,2}$")


@lru_cache(maxsize=8192)
def _hits(text: str) -> tuple[int, ...]:
    """Indexes of rules matching ``text`` (normalised), in order of first appearance."""
    return tuple(dict.fromkeys(rule for rule, _, _ in _MATCHER.find(text)))


@lru_cache(maxsize=4096)
def _antigens(text: str) -> tuple[str, ...]:
    """Target antigens named in an intervention (a CD33 CAR-T → CD33)."""
    return tuple(dict.fromkeys(ANTIGENS[int(m.lastgroup[1:])][1]  # type: ignore[index]
                               for m in _ANTIGEN_RE.finditer(text)))


def _class_near(code: str, text: str) -> Rule | None:
    """The drug class named nearest after (else before) a code name in ``text``."""
    for pos in (m.start() for m in re.finditer(re.escape(code), text)):
        after = _CLASS_MATCHER.find(text[pos + len(code):pos + len(code) + 160])
        if after:
            return _CLASS[after[0][0]]
        before = _CLASS_MATCHER.find(text[max(0, pos - 120):pos])
        if before:
            return _CLASS[before[-1][0]]
    return None


@dataclass
class _Hit:
    rule: Rule
    source: int  # intervention index, or -1 for title / arm descriptions
    label: str
    description: str = ""


def _intervention_hits(i: int, iv: Intervention, context: Callable[[], str]) -> list[_Hit]:
    text = norm(" ; ".join((iv.name, *iv.other_names)))
    idx = _hits(text)
    if not idx and iv.description and iv.type not in {"OTHER", "BEHAVIORAL"}:
        idx = _hits(norm(iv.description))
    named = [k for k in idx if RULES[k].kind != "class"]
    hits = [_Hit(RULES[k], i, iv.name, iv.description) for k in (named or idx)]
    if not idx and iv.type in {"DRUG", "BIOLOGICAL", "GENETIC", "COMBINATION_PRODUCT", ""}:
        code = _CODE_NAME.match(iv.name)
        if code:
            key = norm(code.group(1))
            rule = _class_near(key, norm(iv.description)) or _class_near(key, context())
            hits.append(_Hit(rule or _UNDISCLOSED, i, iv.name))
    return hits


_UNDISCLOSED = Rule("", "code", ("experimental",), None, None, (), "code-named agent with no stated class")
_BEHAVIOURAL = Rule("", "pattern", ("supportive",), None, None, (), "behavioural / supportive-care intervention")


def _is_gcsf(rule: Rule) -> bool:
    return "G-CSF" in rule.note or "GM-CSF" in rule.note


_GCSF = frozenset(id(r) for r in RULES if _is_gcsf(r))  # (the rules are module-level: their ids stay)


def _supportive_tested(facts: StudyFacts, title: str, title_tokens: list[tuple[int, int, int]],
                       hits: list[_Hit]) -> tuple[bool, bool, bool]:
    """Boundary rule 4 — is supportive care what the study tests? Returns (for supportive agents, for
    ancillary agents and G-CSF, "G-CSF itself is the question"). Yes when the primary purpose is supportive
    care or prevention, or nothing in the study is aimed at the leukemia; a supportive agent named in the
    title is the subject too, but G-CSF only as "with or without G-CSF" (inside FLAG/CLAG it is part of
    the regimen)."""
    if facts.primary_purpose in SUPPORTIVE_PURPOSES:
        return True, True, False
    if not any(_ACTIVE & set(h.rule.categories) or "transplant" in h.rule.categories for h in hits):
        return True, True, False
    if not any(k in _SUBJECT for k, _, _ in title_tokens) and not _MATCHER.may_match(title, _SUBJECT):
        return False, False, False  # (the same answer as the loop below, without the regular expressions)
    subject = gcsf_subject = False
    for k, start, _ in _MATCHER.find(title, tokens=title_tokens):
        rule = RULES[k]
        if "supportive" in rule.categories and rule.kind != "ancillary":
            if id(rule) not in _GCSF:
                subject = True
            elif _WITH_OR_WITHOUT.search(title, 0, start):
                gcsf_subject = subject = True
    return subject, gcsf_subject, gcsf_subject


def _collect(facts: StudyFacts, title: str, title_tokens: list[tuple[int, int, int]]
             ) -> tuple[list[_Hit], list[_Hit]]:
    """Rule hits of the interventions, and of drugs named in the titles and arm descriptions."""
    def context() -> str:  # the record's own words, only needed to place a code-named agent
        return texts(facts).context

    hits: list[_Hit] = []
    for i, iv in enumerate(facts.interventions):
        found = _intervention_hits(i, iv, context)
        behavioural = iv.type == "BEHAVIORAL" and all(h.rule.kind == "none" for h in found)
        unnamed_support = (not found and iv.type not in {"DRUG", "BIOLOGICAL"}
                           and facts.primary_purpose == "SUPPORTIVE_CARE")
        if behavioural or unnamed_support:
            found.append(_Hit(_BEHAVIOURAL, i, iv.name))
        hits += found
    named: list[_Hit] = []
    sources: list[tuple[str, str, list[tuple[int, int, int]] | None]] = [(title, "title", title_tokens)]
    sources += [(norm_text(a.description), f"arm {a.label}", None) for a in facts.arm_groups]
    for text, label, tokens in sources:  # (tokens: the title's, already found)
        lead = -2  # where a negation can first begin (found on first need)
        for k, start, end in _MATCHER.find_tokens(text) if tokens is None else tokens:
            if not _NAMED_ACTIVE[k]:
                continue
            if lead == -2:
                lead = _first_lead(text)
            if not (0 <= lead < start and _TITLE_NEG.search(text, lead, start)):
                named.append(_Hit(RULES[k], -1, f"{text[start:end]} ({label})"))
    return hits, named


class _Context:
    """What the whole study says about each hit (the boundary rules' conditions)."""
    __slots__ = ("transplant", "cells", "gvhd", "chemo_named", "supportive_ok", "ancillary_ok", "gcsf_question")

    def __init__(self, transplant: bool, cells: bool, gvhd: bool, chemo_named: bool,
                 supportive_ok: bool, ancillary_ok: bool, gcsf_question: bool) -> None:
        self.transplant = transplant  # the study gives a transplant (or treats patients around one)
        self.cells = cells  # immune cells or a T-cell engager are given
        self.gvhd = gvhd  # the study is about preventing or treating GVHD
        self.chemo_named = chemo_named  # another chemotherapy drug is given (asparaginase: part of the backbone)
        self.supportive_ok, self.ancillary_ok, self.gcsf_question = supportive_ok, ancillary_ok, gcsf_question

    def categories(self, h: _Hit) -> tuple[str, ...]:
        r = h.rule
        cats = r.categories
        if self.cells and r.with_cell_therapy is not None:  # rule 8: lymphodepletion, IL-2 for NK cells
            cats = r.with_cell_therapy
        elif self.transplant and r.in_transplant is not None:  # rule 3: conditioning, GVHD prophylaxis
            cats = r.in_transplant
        elif self.transplant and "chemotherapy" in cats and _CONDITIONING_TIME.search(norm(h.description)):
            cats = ("transplant",)
        if r.kind == "enzyme":  # rule 9
            cats = ("chemotherapy",) if self.chemo_named else ("experimental",)
        gcsf = id(r) in _GCSF
        if self.gcsf_question and gcsf:
            cats = ("supportive",)
        if "supportive" in cats:  # rule 4: only when tested
            tested = self.ancillary_ok if r.kind == "ancillary" or gcsf else self.supportive_ok or r is _BEHAVIOURAL
            if not tested:
                cats = tuple(c for c in cats if c != "supportive")
        if self.gvhd:  # a drug tested against GVHD is part of the transplant (rule 8)
            cats = tuple(dict.fromkeys("transplant" if c != "chemotherapy" else c for c in cats))
        return cats


def classify(facts: StudyFacts) -> Classification:
    """Categories, evidence and implied targets of one study."""
    n = len(facts.interventions)
    if facts.study_type == "OBSERVATIONAL":
        return Classification(("other",), {"other": "observational study: gives no study treatment"}, ((),) * n, ())
    title = texts(facts).title
    title_tokens = _MATCHER.find_tokens(title)
    hits, named = _collect(facts, title, title_tokens)
    brief = texts(facts).brief_title
    title_transplant = any(n in brief for n in _TRANSPLANT_NEEDLES) and \
        any(not _TRANSPLANT_NEG.search(brief, 0, m.start()) for m in _TRANSPLANT_TITLE.finditer(brief))
    supportive_ok, ancillary_ok, gcsf_question = _supportive_tested(facts, title, title_tokens, hits)
    ctx = _Context(
        transplant=title_transplant or any("transplant" in h.rule.categories for h in hits),
        cells=any(h.rule.kind in {"cell", "engager"} for h in hits),
        gvhd=bool(_GVHD.search(title)),
        chemo_named=any(h.rule.kind != "enzyme" and "chemotherapy" in h.rule.categories
                        and h.rule.in_transplant is None for h in hits + named),
        supportive_ok=supportive_ok, ancillary_ok=ancillary_ok, gcsf_question=gcsf_question,
    )
    per: list[list[str]] = [[] for _ in range(n)]
    evidence: dict[str, dict[str, None]] = {}
    targets: dict[str, None] = {}
    converted: set[str] = set()
    shown: set[tuple[str, int]] = set()
    for h in hits + named:
        cats = ctx.categories(h)
        if h.source >= 0:
            if cats is not h.rule.categories:
                converted.update(set(h.rule.categories) - set(cats))
        elif converted and not converted.isdisjoint(cats):  # e.g. a conditioning drug named again in an arm
            continue
        for c in cats:
            if h.source >= 0 and c not in per[h.source]:
                per[h.source].append(c)
            if h.source < 0 and (c, id(h.rule)) in shown:
                continue  # the drug is already the evidence as an intervention; its title mention adds nothing
            shown.add((c, id(h.rule)))
            evidence.setdefault(c, {})[f"{h.label.strip()[:80]} — {h.rule.note}"] = None
        if cats:
            for t in h.rule.targets:
                targets[t] = None
            if h.source >= 0 and ("targeted" in cats or "immunotherapy" in cats):
                targets.update(dict.fromkeys(_antigens(norm(h.label))))
    if title_transplant and facts.primary_purpose != "SUPPORTIVE_CARE" or ctx.gvhd:
        evidence.setdefault("transplant", {})[f"title — {facts.title[:100]}"] = None
    if ctx.gvhd and facts.primary_purpose == "SUPPORTIVE_CARE":
        evidence.setdefault("supportive", {})["GVHD prevention/treatment is the supportive care tested"] = None
    return _result(evidence, per, targets)


def _result(evidence: dict[str, dict[str, None]], per: list[list[str]], targets: dict[str, None]) -> Classification:
    cats = tuple(c for c in CATEGORY_KEYS if c in evidence)
    if not cats:
        return Classification(("other",), {"other": "no study treatment matched a category rule"},
                              tuple(tuple(p) for p in per), ())
    order = {c: k for k, c in enumerate(CATEGORY_KEYS)}
    return Classification(
        cats,
        {c: "; ".join(evidence[c]) for c in cats},
        tuple(tuple(sorted(p, key=order.__getitem__)) for p in per),
        tuple(targets),
    )


def rules_table() -> pd.DataFrame:
    """The lexicon as a table, one row per rule, for review and ``trialfinder categories``."""
    return pd.DataFrame(_ROWS, columns=list(_COLUMNS))
