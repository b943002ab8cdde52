"""Literal strings one of which every match of a regex contains, read from the regex's own text.

A rule table's patterns stay as a clinician wrote them; what a matcher needs for speed is derived from
them when they load. :func:`needles` reads the regex syntax the tables use — literal characters and
escapes, character classes, ``.``, groups (plain, ``(?:``, named), alternation, look-arounds, anchors,
``?``, ``*``, ``+`` and ``{m,n}`` (lazy or not) — and answers conservatively: a set of literals of
which every match contains at least one, or None when it cannot tell (anything it does not know, or no
literal of two characters or more that every match needs). A text that contains none of the needles
cannot match, so the regex need not be searched there; where a needle is found the regex itself
decides. Only that shortcut depends on this module, never a result (the callers' tests compare both).
"""

from __future__ import annotations

from dataclasses import dataclass

Needles = frozenset[str] | None

_ZERO_ESCAPES = set("bBAZ")  # zero-width
_CLASS_ESCAPES = set("dDwWsS")  # one character of a class
_LITERAL_ESCAPES = set("\\.^$*+?{}[]()|-/ '\"&~#<>=!,:;%@`")


class _Unknown(ValueError):
    """Syntax this reader does not handle: the caller gets None."""


@dataclass
class _Item:
    kind: str  # "char" (one literal character), "any" (a class), "zero" (zero-width), "group"
    value: object  # the character, or the group's needles (Needles)
    least: int = 1  # the fewest repetitions its quantifier allows
    exact: bool = True  # no quantifier: exactly once


def needles(pattern: str, shortest: int = 2) -> Needles:
    """Literals (each at least ``shortest`` long) one of which every match of ``pattern`` contains,
    or None when that cannot be told (see the module's docstring). Patterns compiled with flags
    (IGNORECASE, VERBOSE) are not for this reader."""
    try:
        found, end = _alternation(pattern, 0)
    except (_Unknown, IndexError):
        return None
    if end != len(pattern) or found is None or min(map(len, found)) < shortest:
        return None
    return found


def _alternation(p: str, i: int) -> tuple[Needles, int]:
    branches: list[Needles] = []
    while True:
        found, i = _sequence(p, i)
        branches.append(found)
        if i < len(p) and p[i] == "|":
            i += 1
            continue
        break
    if any(b is None for b in branches):
        return None, i
    return frozenset(s for b in branches if b is not None for s in b), i


def _sequence(p: str, i: int) -> tuple[Needles, int]:
    items: list[_Item] = []
    while i < len(p) and p[i] not in "|)":
        item, i = _atom(p, i)
        item.least, item.exact, i = _quantifier(p, i, item)
        items.append(item)
    return _best(items), i


def _best(items: list[_Item]) -> Needles:
    """The most selective needles of a sequence: runs of single required characters, or a required
    group's needles (the set whose shortest literal is longest)."""
    candidates: list[frozenset[str]] = []
    run = ""
    for item in items:
        if item.kind == "zero":
            continue  # (zero-width: the characters on each side are adjacent in the text)
        if item.kind == "char" and item.exact:
            run += str(item.value)
            continue
        if item.kind == "char" and item.least >= 1:  # "ab+c" holds "ab" and "bc"
            candidates.append(frozenset({run + str(item.value)}))
            run = str(item.value)
            continue
        if run:
            candidates.append(frozenset({run}))
            run = ""
        if item.kind == "group" and item.least >= 1 and item.value is not None:
            candidates.append(item.value)  # type: ignore[arg-type]
    if run:
        candidates.append(frozenset({run}))
    if not candidates:
        return None
    return max(candidates, key=lambda c: (min(map(len, c)), -len(c)))


def _atom(p: str, i: int) -> tuple[_Item, int]:
    c = p[i]
    if c == "(":
        return _group(p, i)
    if c == "[":
        return _Item("any", None), _class_end(p, i + 1)
    if c == "\\":
        e = p[i + 1]
        if e in _ZERO_ESCAPES:
            return _Item("zero", None), i + 2
        if e in _CLASS_ESCAPES:
            return _Item("any", None), i + 2
        if e in _LITERAL_ESCAPES:
            return _Item("char", e), i + 2
        raise _Unknown(f"escape \\{e}")
    if c == ".":
        return _Item("any", None), i + 1
    if c in "^$":
        return _Item("zero", None), i + 1
    if c in "*+?{":
        raise _Unknown("a quantifier with nothing before it")
    return _Item("char", c), i + 1


def _group(p: str, i: int) -> tuple[_Item, int]:
    zero = False
    if p.startswith("(?:", i):
        i += 3
    elif p.startswith(("(?=", "(?!"), i):
        zero, i = True, i + 3
    elif p.startswith(("(?<=", "(?<!"), i):
        zero, i = True, i + 4
    elif p.startswith("(?P<", i):
        i = p.index(">", i) + 1
    elif p.startswith("(?", i):
        raise _Unknown("flags or another group kind")
    else:
        i += 1
    found, i = _alternation(p, i)
    if p[i] != ")":
        raise _Unknown("an unclosed group")
    return (_Item("zero", None) if zero else _Item("group", found)), i + 1


def _class_end(p: str, i: int) -> int:
    if p[i] == "^":
        i += 1
    if p[i] == "]":  # (a "]" first in a class is literal)
        i += 1
    while p[i] != "]":
        i += 2 if p[i] == "\\" else 1
    return i + 1


def _quantifier(p: str, i: int, item: _Item) -> tuple[int, bool, int]:
    """(the fewest repetitions allowed, whether there is no quantifier, the index after it)."""
    if i >= len(p) or p[i] not in "?*+{":
        return 1, True, i
    if p[i] == "{":
        end = p.index("}", i)
        body = p[i + 1:end]
        low = body.split(",")[0]
        if not all(part.isdigit() or part == "" for part in body.split(",")) or body.count(",") > 1:
            raise _Unknown("a brace that is not a quantifier")
        least, i = int(low or 0), end + 1
    else:
        least, i = (0 if p[i] in "?*" else 1), i + 1
    if item.kind == "zero":
        raise _Unknown("a quantified zero-width item")
    if i < len(p) and p[i] in "?+":  # lazy or possessive
        i += 1
    return least, False, i
