"""The treatment vocabulary: the clinician-readable tables of ``rules/`` read into rules, and the
indexes the matcher needs, derived here when the tables load (the tables hold clinical content only).

Tables (CSV, one row each; see ``rules/README.md``):

- ``agents/*.csv`` — one row per agent, by drug family: INN, codes, brands, other names, class,
  category, group (for the context rules), molecular targets, and how the row is known (source).
- ``regimens.csv`` — named multi-agent regimens (FLAG-IDA, 7+3, Bu/Cy…) and their components.
- ``stems.csv`` — INN/USAN stems, the fallback for a name no agent row knows (an unknown ``-tinib``).
- ``forms.csv`` — general forms written any way: cell products ("CAR T cells"), engagers, vaccines,
  transplant procedures, radiation, generic chemotherapy, supportive care, procedures that treat
  nothing, drug-class phrases, and the antigens named inside a product's name.
- ``context.csv`` — what a study's context turns a hit into (conditioning, lymphodepletion, rule 4…).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from . import RULES_DIR, norm

CATEGORY_KEYS = ("targeted", "immunotherapy", "transplant", "experimental", "chemotherapy", "supportive")
GROUPS = frozenset({"alkylator", "purine_analogue", "immunosuppressant", "anti_infective", "growth_factor",
                    "ancillary", "cytokine", "enzyme"})
_TOKEN = re.compile(r"[a-z0-9]+|[α-ω]+")
_BOUNDED = r"(?<![a-z0-9])(?:{})(?![a-z0-9])"


@dataclass(frozen=True)
class Rule:
    """One thing a name can be: an agent, a regimen, a stem or a form."""

    kind: str  # "agent", "regimen", "stem", or a form's kind ("cell", "engager", "procedure", "none"…)
    name: str  # the agent's INN, the regimen's name, the stem, or the form's pattern
    categories: tuple[str, ...]
    group: str = ""  # agents: a family the context rules name (alkylator, growth_factor…)
    targets: tuple[str, ...] = ()
    note: str = ""  # what a clinician reads as the evidence: the class, the stem's meaning…
    source: str = ""
    role: str = ""  # derived: "cell" or "engager" for an agent whose class is a cell product or an engager


@dataclass(frozen=True)
class Term:
    """A way of writing a rule: the INN, a code, a brand or another name."""

    text: str
    rule: Rule
    is_name: bool  # the rule's own name (evidence then shows the class alone)


@dataclass(frozen=True)
class ContextRule:
    when: tuple[str, ...]  # conditions that must all hold (see ``categories._Study``)
    selects: str  # "group:alkylator", "category:chemotherapy", "kind:radiation", "name:…", "target:…", "any"
    gives: tuple[str, ...]  # the categories it gives instead (empty: none)
    note: str


def tokens(text: str) -> list[str]:
    """The words of normalised text: runs of letters and digits ("ABT-199" -> ["abt", "199"])."""
    return _TOKEN.findall(text)


def _split(cell: str, sep: str = "|") -> tuple[str, ...]:
    return tuple(part.strip() for part in (cell or "").split(sep) if part.strip())


def _categories(cell: str) -> tuple[str, ...]:
    cats = tuple(c for c in _split(cell, ";") if c != "-")
    unknown = set(cats) - set(CATEGORY_KEYS)
    if unknown:
        raise ValueError(f"unknown category {sorted(unknown)} in the rule tables")
    return cats


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _agent_terms() -> list[Term]:
    terms: list[Term] = []
    for path in sorted((RULES_DIR / "agents").glob("*.csv")):
        for row in _rows(path):
            if row["group"] and row["group"] not in GROUPS:
                raise ValueError(f"{path.name}: unknown group {row['group']!r} for {row['name']}")
            rule = Rule("agent", row["name"], _categories(row["category"]), row["group"],
                        _split(row["targets"], ";"), row["class"], row["source"])
            terms.append(Term(row["name"], rule, True))
            for column in ("codes", "brands", "synonyms"):
                terms += [Term(text, rule, False) for text in _split(row[column])]
    return terms


def _regimen_terms() -> list[Term]:
    terms = []
    for row in _rows(RULES_DIR / "regimens.csv"):
        components = " + ".join(_split(row["components"], "+"))
        rule = Rule("regimen", row["name"], _categories(row["category"]), note=f"{row['name']} = {components}",
                    source=row["source"])
        terms.append(Term(row["name"], rule, True))
    return terms


@dataclass(frozen=True)
class Stem:
    text: str  # without its hyphen: "tinib"
    position: str  # suffix | prefix | word
    rule: Rule

    def fits(self, word: str) -> bool:
        if self.position == "word":
            return word == self.text
        if len(word) < len(self.text) + 3 or not word.isalpha():
            return False
        return word.endswith(self.text) if self.position == "suffix" else word.startswith(self.text)


def _short(meaning: str) -> str:
    """The head of a stem's published meaning, for the evidence ("tyrosine kinase inhibitors")."""
    return re.split(r"[;(]", meaning, maxsplit=1)[0].strip().rstrip(",")


def _stems() -> tuple[Stem, ...]:
    stems = []
    for row in _rows(RULES_DIR / "stems.csv"):
        text = row["stem"].strip("-").lower()
        rule = Rule("stem", row["stem"], _categories(row["category"]), targets=_split(row["targets"], ";"),
                    note=f"{row['stem']} ({_short(row['meaning'])})", source=row["source"])
        stems.append(Stem(text, row["position"], rule))
    # the longest stem first: -brutinib before -tinib
    return tuple(sorted(stems, key=lambda s: (-len(s.text), s.text)))


@dataclass(frozen=True)
class Form:
    regex: re.Pattern[str]
    rule: Rule


def _forms() -> tuple[Form, ...]:
    forms = []
    for row in _rows(RULES_DIR / "forms.csv"):
        rule = Rule(row["kind"], row["pattern"], _categories(row["category"]), targets=_split(row["targets"], ";"),
                    note=row["note"], source=row["source"])
        forms.append(Form(re.compile(_BOUNDED.format(row["pattern"])), rule))
    return tuple(forms)


def _context() -> tuple[ContextRule, ...]:
    return tuple(ContextRule(_split(row["when"], "+"), row["selects"], _categories(row["gives"]), row["note"])
                 for row in _rows(RULES_DIR / "context.csv"))


class TermIndex:
    """Finds terms in a list of words: a term matches the same words in order ("abt 199"), and a code
    (letters and digits) also matches written solid or split ("ABT199", "ABT 199", "ABT-199").
    The longest match at each word wins; matches do not overlap."""

    def __init__(self, terms: list[Term]) -> None:
        self.first: dict[str, list[tuple[tuple[str, ...], Term]]] = {}
        self.solid: dict[str, Term] = {}
        for term in terms:
            words = tuple(tokens(norm(term.text)))
            if not words:
                continue
            joined = "".join(words)
            is_code = any(c.isdigit() for c in joined) and any(c.isalpha() for c in joined)
            shortest = 3 if is_code or term.rule.kind == "regimen" else 4  # regimen acronyms: MEC, CAG
            if len(joined) < shortest and len(words) == 1:
                continue  # too short to be a name on its own
            self.first.setdefault(words[0], []).append((words, term))
            if len(words) > 1:  # a plural: "donor lymphocyte infusions"
                self.first[words[0]].append(((*words[:-1], words[-1] + "s"), term))
            if is_code:
                self.solid.setdefault(joined, term)
        for candidates in self.first.values():
            candidates.sort(key=lambda c: -len(c[0]))

    def find(self, words: list[str], split_codes: bool = True) -> list[tuple[int, int, Term]]:
        """``(first word, word after the last, term)`` of each match, in order. ``split_codes=False``:
        a code matches only as one word or as the table writes it (free text: "day 101" is no code)."""
        found = []
        i = 0
        while i < len(words):
            match = self._at(words, i, 3 if split_codes else 1)
            if match is None:
                i += 1
                continue
            found.append((i, i + match[0], match[1]))
            i += match[0]
        return found

    def _at(self, words: list[str], i: int, longest: int) -> tuple[int, Term] | None:
        for seq, term in self.first.get(words[i], ()):
            if tuple(words[i:i + len(seq)]) == seq:
                return len(seq), term
        for size in range(longest, 0, -1):  # a code written solid or split differently: "abt199", "sndx 5613"
            if i + size <= len(words):
                code = self.solid.get("".join(words[i:i + size]))
                if code is not None:
                    return size, code
        return None


@dataclass(frozen=True)
class Vocabulary:
    terms: TermIndex
    stems: tuple[Stem, ...]
    forms: tuple[Form, ...]
    context: tuple[ContextRule, ...]
    rules: tuple[Rule, ...]  # every agent, regimen, stem and form, for review and counting
    spellings: dict[str, Rule]  # agents' names, brands and other names (not codes), for misspellings


def _with_roles(terms: list[Term], forms: tuple[Form, ...]) -> list[Term]:
    """Agents whose class is a cell product or an engager ("CD19 CAR-T cells", "CD123xCD3 bispecific")
    get that role, read from their class by the forms table: the context rules treat them as such."""
    roles: dict[Rule, Rule] = {}
    for term in terms:
        rule = term.rule
        if rule in roles or rule.kind != "agent":
            continue
        text = norm(rule.note)
        role = next((f.rule.kind for f in forms if f.rule.kind in {"cell", "engager"} and f.regex.search(text)), "")
        roles[rule] = replace(rule, role=role) if role else rule
    return [Term(t.text, roles.get(t.rule, t.rule), t.is_name) for t in terms]


@cache
def vocabulary() -> Vocabulary:
    """The tables, read once."""
    stems, forms = _stems(), _forms()
    terms = _with_roles(_agent_terms() + _regimen_terms(), forms)
    rules = tuple(dict.fromkeys([t.rule for t in terms] + [s.rule for s in stems] + [f.rule for f in forms]))
    spellings = {norm(t.text): t.rule for t in terms
                 if t.rule.kind == "agent" and len(t.text) >= 7 and not any(c.isdigit() for c in t.text)}
    return Vocabulary(TermIndex(terms), stems, forms, _context(), rules, spellings)
