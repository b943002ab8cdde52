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
from collections.abc import Iterable, Iterator
from functools import lru_cache
from operator import itemgetter
from pathlib import Path

import numpy as np

try:  # the regex parser, to find the literals a lexicon regex requires
    import re._constants as _sre
    import re._parser as _sre_parser
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]

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
        self._index: KeywordIndex | None = None  # built on first use without given positions

    def finditer(self, text: str, positions: dict[str, list[int]] | None = None) -> list[re.Match[str]]:
        """Every match, in text order (``positions``: the keywords' occurrences, from a
        :class:`KeywordIndex` over ``text``; found here when not given)."""
        return list(self.matches(text, positions))

    def matches(self, text: str, positions: dict[str, list[int]] | None = None) -> Iterator[re.Match[str]]:
        """The matches lazily, in text order: a caller that wants the first good one stops early.
        The merged windows are disjoint and in order, so their matches come sorted and unique."""
        if positions is None:
            if self._index is None:
                self._index = KeywordIndex(self.keywords)
            positions = self._index.positions(text)
        n, before, after = len(text), self.before, self.after
        spans = [(i - before if i > before else 0, min(n, i + len(key) + after))
                 for key in self.keywords for i in positions.get(key, ())]
        if not spans:
            return
        spans.sort()
        a, b = spans[0]
        regex = self.regex
        for c, d in spans[1:]:
            if c <= b:
                if d > b:
                    b = d
            else:
                yield from regex.finditer(text, a, b)
                a, b = c, d
        yield from regex.finditer(text, a, b)


# Rough commonness of characters in English text (most common first); anything else counts as rare.
# Only steers which trigram of a keyword is looked up (speed), never what is found.
_COMMON = " etaoinsrhldcumfpgwybvkxjqz"
_LATIN1 = re.compile(r"[\x00-\xff]*")


class KeywordIndex:
    """Every occurrence (overlapping ones too) of a fixed set of keywords in a text, exactly as
    repeated ``str.find`` calls give them, but in one pass over long text: each keyword is looked up
    by its rarest trigram (a vectorised trigram-hash table over the text marks candidate positions,
    ``startswith`` confirms them); keywords too short for that are found with ``str.find``."""

    _SHORT_TEXT = 500  # below this many characters plain str.find is as quick

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords = tuple(dict.fromkeys(k for k in keywords if k))
        self.by_trigram: dict[str, list[tuple[str, int]]] = {}
        self.plain: list[str] = []
        table = np.zeros(1 << 16, dtype=bool)
        for key in self.keywords:
            grams = [j for j in range(len(key) - 2) if _LATIN1.fullmatch(key[j:j + 3])]
            if not grams:
                self.plain.append(key)
                continue
            j = min(grams, key=lambda j: (sum(_rank(c) for c in key[j:j + 3]), j))
            gram = key[j:j + 3]
            self.by_trigram.setdefault(gram, []).append((key, j))
            table[_hash3(*gram.encode("latin-1"))] = True
        self.table = table

    def positions(self, text: str) -> dict[str, list[int]]:
        """``{keyword: [start, ...]}`` for the keywords present, starts ascending."""
        found: dict[str, list[int]] = {}
        if len(text) < self._SHORT_TEXT:
            for key in self.keywords:
                i = text.find(key)
                if i >= 0:
                    at = found[key] = [i]
                    i = text.find(key, i + 1)
                    while i >= 0:
                        at.append(i)
                        i = text.find(key, i + 1)
            return found
        # One byte per character ("?" for the few outside Latin-1), so byte offsets are text offsets.
        a = np.frombuffer(text.encode("latin-1", "replace"), dtype=np.uint8).astype(np.uint16)
        h = a[:-2] * np.uint16(961)
        h += a[1:-1] * np.uint16(31)
        h += a[2:]
        by_trigram = self.by_trigram
        for q in np.flatnonzero(self.table[h]).tolist():
            for key, j in by_trigram.get(text[q:q + 3], ()):
                p = q - j
                if p >= 0 and text.startswith(key, p):
                    found.setdefault(key, []).append(p)
        for key in self.plain:
            i = text.find(key)
            while i >= 0:
                found.setdefault(key, []).append(i)
                i = text.find(key, i + 1)
        return found


def _rank(c: str) -> int:
    i = _COMMON.find(c)
    return len(_COMMON) - i if i >= 0 else 0


def _hash3(a: int, b: int, c: int) -> int:
    """The trigram hash computed (with 16-bit wrap-around) by :meth:`KeywordIndex.positions`."""
    return (a * 961 + b * 31 + c) & 0xFFFF


_TOKEN = re.compile(r"[a-z0-9αβγδ]+")
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")
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
        self.firsts = set(self.seqs)  # (a set: its intersection is a new set)
        # A token can only end with a suffix if its last ``tail_len`` characters end one.
        self.tail_len = min(map(len, self.suffixes), default=0)
        self.tail_of = itemgetter(slice(-self.tail_len, None)) if self.tail_len else None
        self.tails = frozenset(s[-self.tail_len:] for s in self.suffixes) if self.tail_len else frozenset()
        sources = [term_regex(terms[i]) for _, i in self.patterns]
        self.regex = re.compile(_BOUNDED.format("|".join(sources))) if self.patterns else None
        # Terms that may start anywhere in a word (\w*car..., (?:\w+ )?inhibitors?) cost a backtracking
        # attempt at every word; one whose required literals are all absent from a text cannot match
        # there and is left out of the alternation for that text (which changes no match).
        self._sources = sources
        self._gated = [(k, req) for k, src in enumerate(sources)
                       if _starts_variable(src) and (req := _required_literals(src))]
        self._variants: dict[tuple[int, ...], re.Pattern[str] | None] = {}

    def _regex_for(self, text: str) -> re.Pattern[str] | None:
        """The alternation without the gated terms that cannot match in ``text``."""
        absent: tuple[int, ...] = ()
        for k, req in self._gated:
            for alts in req:
                for needle in alts:
                    if needle in text:
                        break
                else:  # none of these literals: the term cannot match
                    absent += (k,)
                    break
        if not absent:
            return self.regex
        regex = self._variants.get(absent, _MISSING)
        if regex is _MISSING:  # at most 2**len(self._gated) variants, compiled once each
            keep = [src for k, src in enumerate(self._sources) if k not in absent]
            regex = self._variants[absent] = re.compile(_BOUNDED.format("|".join(keep))) if keep else None
        return regex  # type: ignore[return-value]

    def find(self, text: str, patterns: bool = True,
             tokens: list[tuple[int, int, int]] | None = None) -> list[tuple[int, int, int]]:
        """``(rule index, start, end)`` of every match in ``text``, in text order. ``tokens``: the
        plain and suffix matches already found by ``find(text, patterns=False)``, not sought again."""
        found = self.find_tokens(text) if tokens is None else list(tokens)
        if patterns and self.regex is not None:
            regex = self._regex_for(text) if len(text) >= 64 else self.regex
            if regex is not None:
                for m in regex.finditer(text):
                    span = m.group()
                    rule = next(i for rx, i in self.patterns if rx.fullmatch(span))
                    found.append((rule, m.start(), m.end()))
            if len(found) > 1:
                found.sort(key=lambda f: (f[1], -f[2]))
                if _overlapping(found):
                    found = [f for f in found if not any(g is not f and g[1] <= f[1] and f[2] <= g[2]
                                                         and (g[2] - g[1]) > (f[2] - f[1]) for g in found)]
        return found

    def find_tokens(self, text: str) -> list[tuple[int, int, int]]:
        """The plain-term and suffix matches: tokens are scanned left to right, a term starting at a
        token takes its longest token sequence (the tokens it covers start nothing), else a token may
        end with a suffix. Only tokens that can start something are visited."""
        parts = _TOKEN_SPLIT.split(text)  # [gap, token, gap, token, ..., gap]
        words = parts[1::2]
        if not words:
            return []
        cands = self.firsts.intersection(words)
        if self.suffixes:
            m = self.tail_len
            if m == 0:
                cands.update(words)
            else:
                tails = self.tails.intersection(map(self.tail_of, words))
                if tails:
                    cands.update(w for w in words if w[-m:] in tails)
        if not cands:
            return []
        if len(cands) <= 2:
            idx = []
            for w in cands:
                i = words.index(w)
                idx.append(i)
                for _ in range(words.count(w) - 1):
                    i = words.index(w, i + 1)
                    idx.append(i)
            idx.sort()
        else:
            idx = [k for k, w in enumerate(words) if w in cands]
        found: list[tuple[int, int, int]] = []
        seqs, suffixes = self.seqs, self.suffixes
        nxt = 0
        at = pos = 0  # pos: offset in text where parts[at] begins
        for k in idx:
            if k < nxt:
                continue
            word = words[k]
            size = 0
            for seq, rule in seqs.get(word, ()):
                if len(seq) == 1 or tuple(words[k:k + len(seq)]) == seq:
                    size = len(seq)
                    break
            else:
                if word.endswith(suffixes):
                    for suf in suffixes:
                        if word.endswith(suf) and len(word) > len(suf) + 2:
                            rule, size = self.suffix_rule[suf], 1
                            break
            if size:
                pos += sum(map(len, parts[at:2 * k + 1]))  # token k is parts[2k + 1]
                end = pos + sum(map(len, parts[2 * k + 1:2 * (k + size)]))
                found.append((rule, pos, end))
                at = 2 * k + 1
                nxt = k + size
        return found


_MISSING = object()


def _overlapping(spans: list[tuple[int, int, int]]) -> bool:
    """Whether any two of these ``(rule, start, end)`` spans, sorted by start, overlap (if none do,
    none lies inside another). An empty span counts as overlapping, to be safe."""
    end = -1
    for _, a, b in spans:
        if a < end or a == b:
            return True
        end = b
    return False


def _starts_variable(source: str) -> bool:
    """Whether a regex may begin with a variable run (its first element is repeated or optional)."""
    data = _sre_parser.parse(source).data
    return bool(data) and data[0][0] in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT)


def _required_literals(source: str) -> list[tuple[str, ...]]:
    """Literal strings every match of ``source`` contains: a list of alternatives sets, each set one
    of whose strings is in every match (e.g. ``\\w*[- ]?(?:photon|electron) therapy`` →
    [("photon", "electron"), (" therapy",)]). Only strings of 3+ characters are kept."""
    parsed = _sre_parser.parse(source)
    if parsed.state.flags & re.IGNORECASE:
        return []
    return [alts for alts in _literals(parsed.data) if min(map(len, alts)) >= 3]


def _literals(items: list) -> list[tuple[str, ...]]:  # type: ignore[type-arg]
    out: list[tuple[str, ...]] = []
    run: list[str] = []
    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            out.append(("".join(run),))
            run = []
        if op is _sre.SUBPATTERN:
            if not av[1] & re.IGNORECASE:  # a (?i:...) group's letters may match in either case
                out += _literals(av[-1].data)
        elif op is _sre.BRANCH:
            # one required string per branch: the branch's longest, if every branch has one
            per = [max(_literals(b.data), key=lambda a: min(map(len, a)), default=None) for b in av[1]]
            if all(per):
                out.append(tuple(dict.fromkeys(n for alts in per for n in alts)))  # type: ignore[union-attr]
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            out += _literals(av[2].data)
    if run:
        out.append(("".join(run),))
    return out


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
