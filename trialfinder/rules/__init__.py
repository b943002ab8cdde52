"""Rule tables (CSV, one row per rule) read by the classifiers, and the helper that compiles them.

``lexicon.csv`` — treatment terms. Columns:

- ``term``: a case-insensitive regular expression (most rows are plain names). A hyphen between two
  letters/digits also matches a space or nothing (``ABT-199`` finds "ABT 199" and "ABT199").
- ``kind``: drug, code (code name), brand, synonym, stem, regimen, pattern, procedure (a transplant
  procedure: marks the study as giving a transplant), class (a drug-class phrase; also used to place a
  code-named agent by the words around it), enzyme (asparaginase-type: chemotherapy inside a
  multi-agent backbone, experimental when it is the investigational agent), none (adds nothing:
  placebo, unnamed standard of care, lab procedures), antigen (names a target antigen; adds no label),
  cell (immune-cell therapy: CAR-T/NK, TCR-T, NK, DLI), engager (T-cell engaging antibody) and
  ancillary (mesna, allopurinol, antiemetics…: supportive only in a supportive-care study).
- ``category``: categories the term gives (``;``-separated, ``-`` for none). ``supportive`` is only
  given when supportive care is what the study tests (CATEGORIES.md boundary rule 4).
- ``in_transplant``: what it gives instead when the study gives a stem cell transplant (blank = same):
  conditioning alkylators/TBI and GVHD prophylaxis become ``transplant``; G-CSF becomes nothing.
- ``with_cell_therapy``: what it gives instead beside CAR/NK/TCR cells or T-cell engagers
  (blank = same): lymphodepleting fludarabine/cyclophosphamide and IL-2 become nothing.
- ``target``: molecular targets implied (``;``-separated), e.g. FLT3 for gilteritinib.
- ``note``: what a clinician reads as evidence, e.g. "SNDX-5613 = revumenib; menin inhibitor".

``setting.csv`` — disease-setting phrases; ``biomarkers.csv`` — biomarker phrases.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

RULES_DIR = Path(__file__).parent

_FLEX_HYPHEN = re.compile(r"(?<=[A-Za-z0-9])-(?=[A-Za-z0-9])")
_BOUNDED = r"(?<![a-z0-9])(?:{})(?![a-z0-9])"


def load(name: str) -> list[dict[str, str]]:
    """Rows of ``rules/<name>.csv`` as dicts (empty cells are "")."""
    with open(RULES_DIR / f"{name}.csv", newline="", encoding="utf-8") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def term_regex(term: str) -> str:
    """The regex source for one rule term (lower-case, flexible hyphens)."""
    return _FLEX_HYPHEN.sub("[- ]?", term.lower())


_DASHES = ("‐", "‑", "–", "—")


@lru_cache(maxsize=4096)
def norm(text: str) -> str:
    """Lower-case text with unified dashes and single spaces, as the rule regexes expect."""
    text = text.lower()
    for dash in _DASHES:
        if dash in text:
            text = text.replace(dash, "-")
    if "®" in text or "™" in text:
        text = text.replace("®", "").replace("™", "")
    return " ".join(text.split())


class KeywordRegex:
    """A regex run only near its keywords: each keyword occurrence opens a window of text
    (``before``/``after`` characters) and the regex is searched there. Much faster than
    searching long eligibility text, and exact as long as every match contains a keyword."""

    def __init__(self, pattern: str, keywords: list[str], before: int = 120, after: int = 160) -> None:
        self.regex = re.compile(_BOUNDED.format(pattern))
        self.keywords = tuple(k for k in keywords if k)
        self.before, self.after = before, after

    def finditer(self, text: str) -> list[re.Match[str]]:
        spans: list[tuple[int, int]] = []
        for key in self.keywords:
            i = text.find(key)
            while i >= 0:
                spans.append((max(0, i - self.before), min(len(text), i + len(key) + self.after)))
                i = text.find(key, i + 1)
        if not spans:
            return []
        spans.sort()
        merged = [spans[0]]
        for a, b in spans[1:]:
            if a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        found: dict[int, re.Match[str]] = {}
        for a, b in merged:
            for m in self.regex.finditer(text, a, b):
                found.setdefault(m.start(), m)
        return [found[k] for k in sorted(found)]


_TOKEN = re.compile(r"[a-z0-9αβγδ]+")
_META = re.compile(r"[\\()\[\]?*+{}|^$.]")


class Matcher:
    """Finds rule terms in normalised text fast: plain terms by token-sequence lookup (a hyphenated
    term also matches written solid, and a final "s" is allowed), ``-suffix`` terms by token ending,
    and the few regular-expression terms by one alternation. A match inside a longer match of
    another term is dropped (the longer phrase wins)."""

    def __init__(self, terms: list[str]) -> None:
        self.seqs: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        suffixes: list[tuple[str, int]] = []
        self.patterns: list[tuple[re.Pattern[str], int]] = []
        for i, term in enumerate(terms):
            low = term.lower()
            if _META.search(low):
                self.patterns.append((re.compile(term_regex(term)), i))
            elif low.startswith("-"):
                suffixes.append((low[1:], i))
            else:
                toks = tuple(_TOKEN.findall(low))
                solid = tuple(_TOKEN.findall(_FLEX_HYPHEN.sub("", low)))
                for seq in {toks, solid, (*toks[:-1], toks[-1] + "s")}:
                    self.seqs.setdefault(seq[0], []).append((seq, i))
        for cands in self.seqs.values():
            cands.sort(key=lambda c: (-len(c[0]), c[1]))
        self.suffixes = tuple(s for s, _ in suffixes)
        self.suffix_rule = dict(suffixes)
        self.regex = re.compile(_BOUNDED.format("|".join(term_regex(terms[i]) for _, i in self.patterns))) \
            if self.patterns else None

    def find(self, text: str, patterns: bool = True) -> list[tuple[int, int, int]]:
        """``(rule index, start, end)`` of every match in ``text``, in text order."""
        toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        words = [t[0] for t in toks]
        found: list[tuple[int, int, int]] = []
        k = 0
        while k < len(toks):
            word = words[k]
            step = 1
            for seq, rule in self.seqs.get(word, ()):
                if tuple(words[k:k + len(seq)]) == seq:
                    found.append((rule, toks[k][1], toks[k + len(seq) - 1][2]))
                    step = len(seq)
                    break
            else:
                if word.endswith(self.suffixes):
                    for suf in self.suffixes:
                        if word.endswith(suf) and len(word) > len(suf) + 2:
                            found.append((self.suffix_rule[suf], toks[k][1], toks[k][2]))
                            break
            k += step
        if patterns and self.regex is not None:
            for m in self.regex.finditer(text):
                span = m.group()
                rule = next(i for rx, i in self.patterns if rx.fullmatch(span))
                found.append((rule, m.start(), m.end()))
            found.sort(key=lambda f: (f[1], -f[2]))
            found = [f for f in found if not any(g is not f and g[1] <= f[1] and f[2] <= g[2]
                                                 and (g[2] - g[1]) > (f[2] - f[1]) for g in found)]
        return found


_WORD_CHARS = re.compile(r"[a-z0-9/'-]+")


def preceded_by(text: str, start: int, words: frozenset[str], phrases: tuple[str, ...] = (), span: int = 4) -> bool:
    """Whether one of ``words`` is among the ``span`` words before ``text[start]``, or one of
    ``phrases`` ends within them (the negation / context check, cheap on long text)."""
    head = text[max(0, start - 12 * span):start]
    cut = max(head.rfind(";"), head.rfind("."), head.rfind(":"))
    if cut >= 0:
        head = head[cut + 1:]
    tail = _WORD_CHARS.findall(head)[-span:]
    if any(w in words for w in tail):
        return True
    return bool(phrases) and any(p in " ".join(tail) for p in phrases)
