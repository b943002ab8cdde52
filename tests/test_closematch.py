"""CloseMatcher (issue 16: a place or region that is not found costs milliseconds, not ~130 ms) gives
exactly difflib.get_close_matches' answers: over the real city and region names, for misspellings,
arbitrary text and every cutoff the product uses, with and without qualifiers."""

from __future__ import annotations

import difflib
import random
import string

import numpy as np
import pytest

from trialfinder.find import places as P
from trialfinder.find import regions as R
from trialfinder.find.closematch import CloseMatcher


def _misspelt(names: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        word = list(rng.choice(names))
        for _ in range(rng.randint(0, 3)):
            at = rng.randint(0, len(word))
            if rng.random() < 0.5:
                word.insert(at, rng.choice(string.ascii_lowercase))
            else:
                del word[at:at + 1]
        out.append("".join(word))
    return out


ODD = ["", " ", "a", "x" * 120, "tuscon", "pariss", "san marino", "東京", "zurih", "new yrok", "saint louiss", "0"]


def test_small_lists_agree_with_difflib() -> None:
    keys = ["apple", "ape", "peach", "puppy", "", "appel", "äpfel", "a", "apples"]
    matcher = CloseMatcher(keys)
    for word in ["appel", "", "a", "pea", "äpfel", "zzz", "apple"]:
        for cutoff in (0.0, 0.6, 0.8, 1.0):
            for n in (1, 3, 10):
                assert matcher.get_close_matches(word, n, cutoff) == difflib.get_close_matches(word, keys, n, cutoff)
    allowed = np.array([k.startswith("ap") for k in keys])
    assert matcher.get_close_matches("appel", 10, 0.6, allowed) == difflib.get_close_matches(
        "appel", [k for k in keys if k.startswith("ap")], 10, 0.6)


def test_city_names_agree_with_difflib() -> None:
    keys = list(P._cities().primary)
    matcher = CloseMatcher(keys)
    words = ODD + _misspelt(keys, 12, seed=16)
    found = 0
    for word in words:
        expected = difflib.get_close_matches(word, keys, n=3, cutoff=0.8)
        assert matcher.get_close_matches(word, 3, 0.8) == expected, word
        found += bool(expected)
    assert found >= 8  # (the misspellings do find names: the comparison is not between two empty lists)


@pytest.mark.parametrize("qualifier", ["AZ", "France", "IN", "Korea, Republic of"])
def test_suggestions_with_a_qualifier_are_those_of_the_plain_loop(qualifier: str) -> None:
    c = P._cities()
    quals = [P._qualifier(qualifier)]
    keys = [k for k, rows in c.primary.items() if any(P._in(i, quals) for i in rows[:3])]
    for word in ["tuscon", "pariss", "springfeld", "seol", "indianapolls", "nice", ""]:
        expected = difflib.get_close_matches(P._norm(word), keys, n=3, cutoff=0.8)
        rows = [next(i for i in c.primary[k] if P._in(i, quals)) for k in expected]
        labels = [P._city_place(word, i).label.removesuffix(", United States") for i in rows]
        assert P.suggest_cities(word, quals) == labels, (word, qualifier)


def test_region_suggestions_agree_with_difflib() -> None:
    names = list(R._all_region_names())
    words = ODD + ["Tex", "Ontaro", "Bavaria", "ile de france"] + _misspelt(names, 60, seed=6)
    for word in words:
        assert R.suggest_region(word) == R.close_matches(word, names), word
