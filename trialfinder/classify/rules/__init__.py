"""The rule tables (CSV, one row per rule, reviewable by a clinician) and the text helpers that apply them.

Treatment categories: ``agents/*.csv``, ``regimens.csv``, ``stems.csv``, ``forms.csv`` and ``context.csv``,
read by :mod:`.vocabulary` and applied by :mod:`trialfinder.classify.categories` (see ``README.md`` here).

``setting.csv`` — disease-setting phrases; ``biomarkers.csv`` — biomarker phrases. Their ``keywords``
(``|``-separated) are words one of which every match of ``pattern`` contains: the pattern is only
searched from ``before`` characters ahead of a keyword to ``after`` characters past it (blank: the
module's default), so these bound how far a match (and its look-ahead) may reach from its keyword.
A hyphen between two letters/digits of a pattern also matches a space or nothing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
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
