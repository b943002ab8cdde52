"""``difflib.get_close_matches`` over a fixed list of keys, with the same answers, in a millisecond or so.

difflib checks every key with two cheap upper bounds of its similarity ratio before the real one:
``real_quick_ratio`` (from the two lengths) and ``quick_ratio`` (from the characters the two strings
share, counted as multisets). Run key by key in Python over the ~32,000 city names that costs ~130 ms
for a place that is not found (issue 16: a mistyped place is a common input). :class:`CloseMatcher`
works out both bounds for all keys at once with NumPy (the keys' character counts are tabulated once)
and hands difflib only the keys that pass them, in their order; difflib then checks and ranks those
exactly as before, so the suggestions are the same. The bounds are applied with a small margin
(:data:`_MARGIN`): a key on the edge goes to difflib, which decides.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence

import numpy as np

_MARGIN = 1e-9  # (the prefilter may let through what difflib then rejects, never the reverse)


class CloseMatcher:
    """The keys, their lengths and a table of how often each character occurs in each."""

    __slots__ = ("_column", "_counts", "_lengths", "keys")

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self._lengths = np.fromiter(map(len, self.keys), dtype=np.int64, count=len(self.keys))
        codes = np.frombuffer("".join(self.keys).encode("utf-32-le"), dtype=np.uint32)
        alphabet, column = np.unique(codes, return_inverse=True)
        self._column = {chr(int(code)): j for j, code in enumerate(alphabet)}
        self._counts = np.zeros((len(self.keys), len(alphabet)), dtype=np.int32)
        np.add.at(self._counts, (np.repeat(np.arange(len(self.keys)), self._lengths), column.ravel()), 1)

    def candidates(self, word: str, cutoff: float, allowed: np.ndarray | None = None) -> list[str]:
        """The keys (of those ``allowed``, a bool per key) whose real_quick_ratio and quick_ratio with
        ``word`` reach ``cutoff``, in the keys' order."""
        rows = np.arange(len(self.keys)) if allowed is None else np.flatnonzero(allowed)
        total = self._lengths[rows] + len(word)
        rows = rows[_ratio(np.minimum(self._lengths[rows], len(word)), total) >= cutoff - _MARGIN]
        wanted = [(self._column[ch], n) for ch, n in Counter(word).items() if ch in self._column]
        shared = np.zeros(len(rows), dtype=np.int64)
        if wanted:
            columns, counts = zip(*wanted, strict=True)
            shared = np.minimum(self._counts[np.ix_(rows, columns)], np.array(counts)).sum(axis=1)
        rows = rows[_ratio(shared, self._lengths[rows] + len(word)) >= cutoff - _MARGIN]
        return [self.keys[i] for i in rows.tolist()]

    def get_close_matches(self, word: str, n: int = 3, cutoff: float = 0.6,
                          allowed: np.ndarray | None = None) -> list[str]:
        """``difflib.get_close_matches(word, keys, n, cutoff)`` (over the ``allowed`` keys only)."""
        return difflib.get_close_matches(word, self.candidates(word, cutoff, allowed), n=n, cutoff=cutoff)


def _ratio(matches: np.ndarray, total: np.ndarray) -> np.ndarray:
    """difflib's ``2.0 * matches / length`` (1.0 for two empty strings), element-wise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 2.0 * matches / np.maximum(total, 1), 1.0)
