r"""Rule tables (CSV, one row per rule) read by the classifiers, and the helper that compiles them.

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
- ``keywords``: for a regular-expression term that may start anywhere in a word (``\w*CART\d*``),
  words one of which every match contains (``|``-separated). Speed only: a text holding none of them
  is not searched for the term. Blank for every other term.

``setting.csv`` — disease-setting phrases; ``biomarkers.csv`` — biomarker phrases. Their ``keywords``
(``|``-separated) are words one of which every match of ``pattern`` contains: the pattern is only
searched from ``before`` characters ahead of a keyword to ``after`` characters past it (blank: the
module's default), so these bound how far a match (and its look-ahead) may reach from its keyword.
"""

from __future__ import annotations

import csv
import re
import re._parser as _sre_parse  # (to read a literal every match of a term contains)
from collections.abc import Iterable, Iterator
from functools import lru_cache
from operator import itemgetter
from pathlib import Path

from ahocorasick_rs import AhoCorasick, BytesAhoCorasick

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


def norm_text(text: str) -> str:
    """Lower-case text with unified dashes and single spaces, as the rule regexes expect. For a study's
    own long texts (eligibility, summary): each is normalised once per study, by :mod:`.texts`."""
    text = text.lower()
    for dash in _DASHES:
        if dash in text:
            text = text.replace(dash, "-")
    if "®" in text or "™" in text:
        text = text.replace("®", "").replace("™", "")
    return " ".join(text.split())


# The same, remembered for short texts that recur across studies (intervention names, conditions).
norm = lru_cache(maxsize=16384)(norm_text)


class KeywordSet:
    """Every occurrence (overlapping ones too) of a fixed set of keywords in a text, exactly as
    repeated ``str.find`` calls give them, in one Aho-Corasick pass."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords = tuple(dict.fromkeys(k for k in keywords if k))
        self._automaton = AhoCorasick(self.keywords)  # standard match kind: overlapping matches allowed
        # The same over bytes, for ASCII text (most of it): its byte offsets are its character offsets,
        # and the automaton then skips mapping one to the other.
        self._ascii = BytesAhoCorasick([k.encode() for k in self.keywords])

    def positions(self, text: str) -> dict[str, list[int]]:
        """``{keyword: [start, ...]}`` for the keywords present, starts ascending."""
        found: dict[str, list[int]] = {}
        keywords = self.keywords
        if text.isascii():
            matches = self._ascii.find_matches_as_indexes(text.encode(), overlapping=True)
        else:
            matches = self._automaton.find_matches_as_indexes(text, overlapping=True)
        for k, start, _ in matches:
            key = keywords[k]
            at = found.get(key)
            if at is None:
                found[key] = [start]
            else:
                at.append(start)
        return found


def window(positions: dict[str, list[int]], lo: int, hi: int, offset: int = 0) -> dict[str, list[int]]:
    """The occurrences lying wholly inside ``text[lo:hi]``, as positions in that slice plus ``offset``
    (positions over a text built from pieces come from positions over the pieces)."""
    out: dict[str, list[int]] = {}
    shift = offset - lo
    for key, starts in positions.items():
        last = hi - len(key)
        if lo <= starts[0] and starts[-1] <= last:  # (starts ascend) all inside: the usual case
            out[key] = [p + shift for p in starts] if shift else starts[:]
            continue
        inside = [p + shift for p in starts if lo <= p <= last]
        if inside:
            out[key] = inside
    return out


class KeywordRegex:
    """A regex run only near its keywords: each keyword occurrence opens a window of text
    (``before``/``after`` characters) and the regex is searched there. Much faster than
    searching long eligibility text, and exact as long as every match contains a keyword."""

    def __init__(self, pattern: str, keywords: list[str], before: int = 120, after: int = 160) -> None:
        self.regex = re.compile(_BOUNDED.format(pattern))
        self.keywords = tuple(k for k in keywords if k)
        self.before, self.after = before, after
        self._reach = tuple((k, len(k) + after) for k in self.keywords)  # keyword start to window end
        self._index: KeywordSet | None = None  # built on first use without given positions

    def finditer(self, text: str, positions: dict[str, list[int]] | None = None) -> list[re.Match[str]]:
        """Every match, in text order (``positions``: the keywords' occurrences, from a
        :class:`KeywordSet` over ``text``; found here when not given)."""
        return list(self.matches(text, positions))

    def matches(self, text: str, positions: dict[str, list[int]] | None = None) -> Iterator[re.Match[str]]:
        """The matches lazily, in text order: a caller that wants the first good one stops early.
        The merged windows are disjoint and in order, so their matches come sorted and unique."""
        if positions is not None and positions.keys().isdisjoint(self.keywords):
            return iter(())  # none of its keywords: nothing to search (the usual case, made cheap)
        return self._matches(text, positions)

    def _matches(self, text: str, positions: dict[str, list[int]] | None) -> Iterator[re.Match[str]]:
        if positions is None:
            if self._index is None:
                self._index = KeywordSet(self.keywords)
            positions = self._index.positions(text)
        before = self.before
        # (a window may end past the text: ``finditer`` stops at its end all the same)
        spans = [(i - before if i > before else 0, i + reach)
                 for key, reach in self._reach for i in positions.get(key, ())]
        if not spans:
            return
        regex = self.regex
        if len(spans) == 1:
            yield from regex.finditer(text, *spans[0])
            return
        spans.sort()
        a, b = spans[0]
        for c, d in spans[1:]:
            if c <= b:
                if d > b:
                    b = d
            else:
                yield from regex.finditer(text, a, b)
                a, b = c, d
        yield from regex.finditer(text, a, b)


_TOKEN = re.compile(r"[a-z0-9αβγδ]+")
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")
_META = re.compile(r"[\\()\[\]?*+{}|^$.]")


class Matcher:
    """Finds rule terms in normalised text fast: plain terms by token-sequence lookup (a hyphenated
    term also matches written solid, and a final "s" is allowed), ``-suffix`` terms by token ending,
    and the few regular-expression terms by one alternation. A match inside a longer match of
    another term is dropped (the longer phrase wins)."""

    def __init__(self, terms: list[str], keywords: list[str] | None = None) -> None:
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
        # attempt at every word; one none of whose ``keywords`` (words every match contains) is in a
        # text cannot match there and is left out of the alternation for that text (no match changes).
        self._sources = sources
        self._gated = [(k, tuple(w.lower() for w in keywords[i].split("|") if w))
                       for k, (_, i) in enumerate(self.patterns) if keywords and keywords[i]]
        self._variants: dict[tuple[int, ...], re.Pattern[str] | None] = {}
        self._needles = tuple((_required_literal(term_regex(terms[i])), i) for _, i in self.patterns)
        self._needles_in: dict[frozenset[int], tuple[str, ...]] = {}  # the needles of a set of rules
        # Tokens already judged (a word is a candidate: it starts a term or ends with a suffix).
        self._cands: set[str] = set(self.firsts)
        self._known: set[str] = set(self.firsts)

    def _ends_with_suffix(self, words: set[str]) -> set[str]:
        if not self.suffixes:
            return set()
        m = self.tail_len
        if m == 0:
            return set(words)
        tails = self.tails
        return {w for w in words if w[-m:] in tails}

    def may_match(self, text: str, rules: frozenset[int]) -> bool:
        """Whether a regular-expression term among ``rules`` might match in ``text``: False only when
        each of them lacks a literal that its every match contains."""
        needles = self._needles_in.get(rules)
        if needles is None:
            needles = self._needles_in[rules] = tuple(n for n, i in self._needles if i in rules)
        return any(needle in text for needle in needles)

    def _regex_for(self, text: str) -> re.Pattern[str] | None:
        """The alternation without the gated terms that cannot match in ``text``."""
        absent: tuple[int, ...] = ()
        for k, needles in self._gated:
            for needle in needles:
                if needle in text:
                    break
            else:  # none of its keywords: the term cannot match
                absent += (k,)
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
        seen = set(words)
        unknown = seen.difference(self._known)
        if unknown:  # words not met before: do any end with a suffix? (remembered, up to a bound)
            ends = self._ends_with_suffix(unknown)
            if len(self._known) < _TOKEN_MEMO:  # candidates first: a word in _known is decided
                self._cands |= ends
                self._known |= unknown
            cands = seen.intersection(self._cands)
            cands |= ends
        else:
            cands = seen.intersection(self._cands)
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
_TOKEN_MEMO = 200_000  # words remembered per matcher (the vocabulary of trial texts is far smaller)


def _required_literal(source: str) -> str:
    """The longest run of plain characters at the top level of a regex (outside any group, alternation
    or repeat): every match contains it. "" when there is none."""
    best = run = ""
    for op, av in _sre_parse.parse(source):
        if op is _sre_parse.LITERAL:
            run += chr(av)
            best = max(best, run, key=len)
        else:
            run = ""
    return best


def _overlapping(spans: list[tuple[int, int, int]]) -> bool:
    """Whether any two of these ``(rule, start, end)`` spans, sorted by start, overlap (if none do,
    none lies inside another). An empty span counts as overlapping, to be safe."""
    end = -1
    for _, a, b in spans:
        if a < end or a == b:
            return True
        end = b
    return False


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
