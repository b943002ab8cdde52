"""One study's texts as the classifiers read them, made once per study and shared.

``classify``, ``disease_setting`` and ``biomarkers`` all read the same normalised titles, summary and
eligibility criteria. :class:`StudyTexts` (``texts(facts)``) normalises each once, splits the
eligibility criteria once, and finds the keywords of ``setting.csv`` and ``biomarkers.csv`` in one
pass over each (the head texts, the eligibility criteria). Setting and biomarker phrases are read
piece by piece ("head", then "inclusion criteria"), as in the text "head ; inclusion criteria": no
keyword contains ";", no phrase spans one, and the negation and disease checks stop at one.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from .rules import KeywordSet, load, norm, norm_text, window

if TYPE_CHECKING:  # pragma: no cover
    from ..source.facts import StudyFacts

Positions = dict[str, list[int]]
Piece = tuple[str, Positions]  # a normalised text and its keywords' positions

_EXCLUSION_PHRASES = (r"exclusion criteria", r"exclusion:", r"key exclusion", r"patients? (?:will be|are) excluded",
                      r"criteria for exclusion")
_EXCLUSION = re.compile("|".join(_EXCLUSION_PHRASES))
# Every phrase contains "exclu" at most this many characters in (bounded phrases: no * + {), so the
# first phrase starts at most this far before the first "exclu": the search starts there.
if not all("exclu" in p and not re.search(r"[*+{]", p) for p in _EXCLUSION_PHRASES):
    raise ValueError("every exclusion phrase must contain 'exclu' and be of bounded length")
_EXCLUSION_LEAD = max(len(p) for p in _EXCLUSION_PHRASES)

#: a conditioning regimen (days before the transplant, "conditioning", "preparative", "myeloablative")
CONDITIONING = re.compile(r"days? ?-\d|\bd ?-\d|condition|preparative|myeloablat")

_T = TypeVar("_T")


class once(Generic[_T]):
    """``functools.cached_property`` without its lock (Python 3.11 takes one on every first use, a
    noticeable cost at five per study): the value is computed on first use and kept in the instance's
    ``__dict__``, where later reads find it without calling this descriptor."""

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        # (getattr: a function compiled by mypyc may lack them; __set_name__ gives the name anyway)
        self.fn, self.name, self.__doc__ = fn, getattr(fn, "__name__", ""), getattr(fn, "__doc__", None)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@cache
def keywords() -> KeywordSet:
    """The keywords of ``setting.csv`` and ``biomarkers.csv``, read on first use."""
    found = KeywordSet(kw for name in ("setting", "biomarkers") for row in load(name)
                       for kw in row["keywords"].split("|"))
    if any(";" in kw for kw in found.keywords):
        raise ValueError("a setting/biomarker keyword may not contain ';' (texts are joined with ' ; ')")
    return found


def exclusion_start(text: str) -> int:
    """Where the exclusion criteria begin in normalised eligibility text (its length if nowhere)."""
    i = text.find("exclu")
    m = _EXCLUSION.search(text, max(0, i - _EXCLUSION_LEAD)) if i >= 0 else None
    return m.start() if m else len(text)


def texts(facts: StudyFacts) -> "StudyTexts":
    """The normalised texts of ``facts`` that ``classify``, ``disease_setting`` and ``biomarkers``
    share, made on first use and kept on the facts (``facts.prepared``)."""
    prepared = facts.prepared
    if prepared is None:
        prepared = facts.prepared = StudyTexts(facts)
    return prepared  # type: ignore[no-any-return]


class StudyTexts:
    """The normalised texts of one study (each made on first use) and keyword positions in them."""

    def __init__(self, facts: StudyFacts) -> None:
        # The raw texts, not ``facts`` itself: ``facts`` holds this object, and a reference cycle would
        # leave every study's objects to the cyclic garbage collector.
        self.title_raw, self.official_title, self.summary = facts.title, facts.official_title, facts.brief_summary
        self.eligibility, self.conditions, self.keywords = facts.eligibility, facts.conditions, facts.keywords
        self.arm_descriptions = tuple(a.description for a in facts.arm_groups)

    @once
    def title(self) -> str:
        """Brief and official title."""
        # = norm_text(f"{brief} ; {official}"): normalising is word by word, so the parts can be
        # normalised apart (unless one is empty: then " ; " would not be single-spaced)
        brief, official = self.brief_title, norm_text(self.official_title)
        return f"{brief} ; {official}" if brief and official else norm_text(f"{self.title_raw} ; {self.official_title}")

    @once
    def brief_title(self) -> str:
        return norm_text(self.title_raw)

    @once
    def context(self) -> str:
        """Titles and brief summary: the record's own words around a code-named agent."""
        return norm_text(f"{self.title_raw} ; {self.official_title} ; {self.summary}")

    @once
    def arms(self) -> tuple[tuple[str, bool], ...]:
        """Each arm's description normalised, and whether it speaks of conditioning (in arm order)."""
        return tuple((text, bool(CONDITIONING.search(text))) for text in map(norm_text, self.arm_descriptions))

    @once
    def _criteria(self) -> tuple[Piece, Piece]:
        """The inclusion and the exclusion criteria, each with its keyword positions."""
        text = norm_text(self.eligibility)
        cut = exclusion_start(text)
        positions = keywords().positions(text)
        if cut == len(text):
            return (text, positions), ("", {})
        return (text[:cut], window(positions, 0, cut)), (text[cut:], window(positions, cut, len(text)))

    @once
    def _heads(self) -> tuple[Piece, Piece]:
        """The setting head (titles, conditions, keywords, brief summary) and the biomarker head (the
        same without the summary: it begins the setting head), each with its keyword positions."""
        # = norm_text(" ; ".join((title, official title, *conditions, *keywords))), from the normalised
        # titles: normalising is word by word, so the parts can be normalised apart
        short = self.title
        if self.conditions or self.keywords:
            # conditions and keywords are short and recur across studies: each normalised (and
            # remembered) apart, then joined, as above
            parts = [norm(p) for p in (*self.conditions, *self.keywords)]
            rest = " ; ".join(parts) if all(parts) else norm_text(" ; ".join((*self.conditions, *self.keywords)))
            short = f"{short} ; {rest}" if rest else f"{short} ;"
        # = norm_text(f"{the short head's raw text} ; {summary}"): normalising is word by word
        head = " ".join(part for part in (short, ";", norm_text(self.summary)) if part)
        positions = keywords().positions(head)
        return (head, positions), (short, window(positions, 0, len(short)))

    @property
    def setting(self) -> tuple[Piece, Piece]:
        """Where setting phrases count, in two pieces: the setting head and the inclusion criteria
        (as one text, "head ; inclusion": see :func:`joined`)."""
        return self._heads[0], self._criteria[0]

    @property
    def exclusion(self) -> Piece:
        return self._criteria[1]

    @property
    def biomarker(self) -> tuple[Piece, Piece]:
        """Where biomarkers count: the biomarker head and the inclusion criteria."""
        return self._heads[1], self._criteria[0]


def joined(pieces: tuple[Piece, ...]) -> str:
    """The pieces as one text, joined by " ; ". Reading the pieces one by one finds what a search of this
    text finds: no keyword or phrase spans a ";", and the negation and disease checks stop at one."""
    return " ; ".join(text for text, _ in pieces)
