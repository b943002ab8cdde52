"""A patient's own profile, and the verdict of each trial's eligibility facts for it.

:class:`Profile` is resolved once at the edge (CLI options, the app's "About me" panel, a link the
user chose to share with her details) by the ``parse_*`` functions here; nothing below parses user
text. :func:`verdict` checks one trial's :class:`~trialfinder.classify.eligibility.Eligibility` (and its
age limits) against a profile:

- ``likely_excluded``: a criterion conflicts with the profile (the sentence is given);
- ``check``: the text leaves a criterion open, or the profile does not answer it (each listed);
- ``no_conflict``: neither.

A value the profile does not give (``None``) is never a conflict, only a question for the trial team.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..classify.eligibility_facts import ANY, MARKER_KEYS, THERAPY_KEYS, Eligibility
from ..errors import InvalidInput

#: the prior treatments a patient can name (the rule's vocabulary; a transplant is asked apart)
PRIOR_KEYS = tuple(k for k in THERAPY_KEYS if k != "any_prior_therapy")
VERDICTS = ("no_conflict", "check", "likely_excluded")
NONE_WORDS = {"none", "no", "nothing", "untreated"}

_PRIOR_ALIASES = {
    "ven": "venetoclax", "venclexta": "venetoclax", "aza": "hma", "azacitidine": "hma", "decitabine": "hma",
    "hypomethylating": "hma", "7+3": "intensive_chemotherapy", "intensive": "intensive_chemotherapy",
    "chemo": "intensive_chemotherapy", "induction": "intensive_chemotherapy", "flt3": "flt3_inhibitor",
    "gilteritinib": "flt3_inhibitor", "midostaurin": "flt3_inhibitor", "quizartinib": "flt3_inhibitor",
    "ivosidenib": "idh1_inhibitor", "idh1": "idh1_inhibitor", "enasidenib": "idh2_inhibitor", "idh2": "idh2_inhibitor",
    "menin": "menin_inhibitor", "revumenib": "menin_inhibitor", "ziftomenib": "menin_inhibitor",
    "gemtuzumab": "cd33_antibody", "mylotarg": "cd33_antibody", "checkpoint": "checkpoint_inhibitor",
    "car-t": "car_t", "cart": "car_t", "car": "car_t",
}
_MARKER_ALIASES = {"MLL": "KMT2A", "CLEC12A": "CLL-1", "CD371": "CLL-1", "CLL1": "CLL-1", "NRAS": "RAS", "KRAS": "RAS",
                   "PTPN11": "RAS", "APL": "PML-RARA", "PMLRARA": "PML-RARA", "BCRABL": "BCR-ABL", "PH+": "BCR-ABL"}


@dataclass(frozen=True)
class Profile:
    """What the patient told us. ``None`` = not said; an empty tuple = "none of these"."""

    age: float | None = None
    ecog: int | None = None
    prior: tuple[str, ...] | None = None  # PRIOR_KEYS received; () = no treatment for AML yet
    prior_lines: int | None = None  # regimens received
    prior_transplant: bool | None = None
    transplant_days: int | None = None  # days since the allogeneic transplant
    markers: tuple[str, ...] | None = None  # MARKER_KEYS the patient has; () = none of them

    @property
    def empty(self) -> bool:
        return self == Profile()

    def describe(self) -> str:
        """'ECOG 1 · prior: venetoclax, hma · transplant 200 days ago · markers: FLT3' (for exports)."""
        parts = []
        if self.age is not None:
            parts.append(f"age {self.age:g}")
        if self.ecog is not None:
            parts.append(f"ECOG {self.ecog}")
        if self.prior is not None:
            parts.append("prior: " + (", ".join(self.prior) or "none"))
        if self.prior_lines is not None:
            parts.append(f"{self.prior_lines} prior lines")
        if self.prior_transplant is not None:
            days = f" {self.transplant_days} days ago" if self.transplant_days is not None else ""
            parts.append(f"allogeneic transplant{days}" if self.prior_transplant else "no allogeneic transplant")
        if self.markers is not None:
            parts.append("markers: " + (", ".join(self.markers) or "none"))
        return " · ".join(parts) or "no details given"


# --- resolving user input ---------------------------------------------------------------------

def _split(values: Any) -> list[str]:
    items = values if isinstance(values, (list, tuple)) else [values]
    return [p.strip() for item in items if isinstance(item, str) for p in item.split(",") if p.strip()]


def parse_prior(values: Any) -> tuple[str, ...]:
    """'venetoclax,hma' / ['aza', '7+3'] -> ('venetoclax', 'hma', ...); 'none' -> ()."""
    return _parse_keys(values, "prior treatment", PRIOR_KEYS, lambda value: value.lower().replace(" ", "_"),
                       lambda word: _PRIOR_ALIASES.get(word.replace("_", "-"), _PRIOR_ALIASES.get(word)))


def parse_markers(values: Any) -> tuple[str, ...]:
    """'FLT3,idh1' -> ('FLT3', 'IDH1'); 'none' -> ()."""
    return _parse_keys(values, "marker", MARKER_KEYS, lambda value: value.upper().replace(" ", "").replace("_", "-"),
                       lambda word: _MARKER_ALIASES.get(word.replace("-", ""), _MARKER_ALIASES.get(word)))


def _parse_keys(values: Any, what: str, keys: tuple[str, ...], normalise: Callable[[str], str],
                alias: Callable[[str], str | None]) -> tuple[str, ...]:
    """Each value (comma-separated or listed) normalised, then a key itself or an alias of one; the 'none'
    words give nothing; an unknown value is refused in one line listing the keys. In ``keys`` order."""
    found: list[str] = []
    for value in _split(values):
        word = normalise(value)
        if word.lower() in NONE_WORDS:
            continue
        key = word if word in keys else alias(word)
        if key is None:
            raise InvalidInput(f"unknown {what} {value!r}; use one of: {', '.join(keys)} (or none)")
        found.append(key)
    return tuple(k for k in keys if k in found)


def _integer(value: Any, name: str, low: int, high: int, example: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} {value!r} is not a number; give {example}") from None
    if math.isnan(number) or number != int(number) or not (low <= number <= high):
        raise InvalidInput(f"{name} {value!r} is out of range; give {example}")
    return int(number)


def parse_ecog(value: Any) -> int:
    return _integer(value, "ECOG", 0, 4, "a whole number from 0 (fully active) to 4")


def parse_lines(value: Any) -> int:
    return _integer(value, "prior lines", 0, 20, "the number of treatment regimens received, e.g. 2")


def parse_days(value: Any) -> int:
    return _integer(value, "days since transplant", 0, 36_500, "the number of days since the transplant, e.g. 180")


# --- the verdict ------------------------------------------------------------------------------

class Reason(NamedTuple):
    kind: str  # "likely_excluded" or "check"
    criterion: str  # what the criterion is about, in plain words
    sentence: str  # the criterion sentence, or "" when the text says nothing


@dataclass(frozen=True)
class Verdict:
    kind: str  # one of VERDICTS
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """The reasons as one line (for exports)."""
        return " | ".join(f"{r.criterion}" + (f": “{r.sentence}”" if r.sentence else "") for r in self.reasons)


def _first(sentences: tuple[str, ...]) -> str:
    return sentences[0] if sentences else ""


def _ecog(e: Eligibility, p: Profile) -> list[Reason]:
    if e.max_ecog is None:
        return []
    said = _first(e.evidence_for("max_ecog"))
    if p.ecog is None:
        return [Reason("check", f"performance status ECOG 0–{e.max_ecog} required; yours is not given", said)]
    if p.ecog > e.max_ecog:
        return [Reason("likely_excluded", f"ECOG {p.ecog} is above the {e.max_ecog} allowed", said)]
    return []


def _window(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low}–{high} days after the transplant"
    return f"at least {low} days after the transplant" if low is not None else f"within {high} days of the transplant"


def _transplant_days(e: Eligibility, p: Profile, said: str) -> list[Reason]:
    """The days since the patient's transplant against the window the criterion states, if any."""
    low, high = e.allo_days
    if low is None and high is None:
        return []
    window = _window(low, high)
    if p.transplant_days is None:
        return [Reason("check", f"the criterion asks {window}; days since yours not given", said)]
    if (low is not None and p.transplant_days < low) or (high is not None and p.transplant_days > high):
        return [Reason("likely_excluded", f"transplant {p.transplant_days} days ago; the criterion asks {window}",
                       said)]
    return []


def _transplant(e: Eligibility, p: Profile) -> list[Reason]:
    said = _first(e.evidence_for("prior_allo_hct"))
    status, had = e.prior_allo_hct, p.prior_transplant
    if status in {"required", "excluded"} and had is None:
        return [Reason("check", f"a prior allogeneic transplant is {status}; not answered", said)]
    if (status == "required" and had is False) or (status == "excluded" and had):
        return [Reason("likely_excluded", f"a prior allogeneic transplant is {status}", said)]
    if status in {"allowed", "required"} and had and (timing := _transplant_days(e, p, said)):
        return timing
    if status == "allowed" and had:
        return [Reason("check", "a prior allogeneic transplant is allowed under conditions", said)]
    if status == "not_stated" and had:
        return [Reason("check", "the criteria do not say whether a prior allogeneic transplant is allowed", "")]
    return []


def _therapies(e: Eligibility, p: Profile) -> list[Reason]:
    out: list[Reason] = []
    prior = p.prior
    treated = None if prior is None and p.prior_lines is None else bool(prior) or bool(p.prior_lines)
    for key in e.required_prior_therapies:
        said = _first(e.evidence_for("required_prior_therapies", key))
        has = treated if key == "any_prior_therapy" else (None if prior is None else key in prior)
        if has is None:
            out.append(Reason("check", f"prior {key.replace('_', ' ')} required; not answered", said))
        elif not has:
            out.append(Reason("likely_excluded", f"prior {key.replace('_', ' ')} required", said))
    for key in e.excluded_prior_therapies:
        said = _first(e.evidence_for("excluded_prior_therapies", key))
        has = treated if key == "any_prior_therapy" else (None if prior is None else key in prior)
        if has is None:
            out.append(Reason("check", f"prior {key.replace('_', ' ')} excludes; not answered", said))
        elif has:
            what = "untreated patients only" if key == ANY else f"prior {key.replace('_', ' ')} excludes"
            out.append(Reason("likely_excluded", what, said))
    return out


def _lines(e: Eligibility, p: Profile) -> list[Reason]:
    if e.max_prior_lines is None or "any_prior_therapy" in e.excluded_prior_therapies:
        return []  # (untreated-only: said by the therapies)
    said = _first(e.evidence_for("max_prior_lines"))
    if p.prior_lines is None:
        return [Reason("check", f"at most {e.max_prior_lines} prior lines; yours not given", said)]
    if p.prior_lines > e.max_prior_lines:
        return [Reason("likely_excluded", f"{p.prior_lines} prior lines, more than the {e.max_prior_lines} allowed",
                       said)]
    return []


def _markers(e: Eligibility, p: Profile) -> list[Reason]:
    out: list[Reason] = []
    if e.required_markers:
        said = _first(e.evidence_for("required_markers", e.required_markers[0]))
        wanted = " or ".join(e.required_markers)
        if p.markers is None:
            out.append(Reason("check", f"requires {wanted}; your markers are not given", said))
        elif not set(e.required_markers) & set(p.markers):
            out.append(Reason("likely_excluded", f"requires {wanted}", said))
    for key in e.excluded_markers:
        if p.markers is not None and key in p.markers:
            out.append(Reason("likely_excluded", f"{key} excludes", _first(e.evidence_for("excluded_markers", key))))
    return out


def _age(min_age: float | None, max_age: float | None, p: Profile) -> list[Reason]:
    if p.age is None:
        return []
    low = None if min_age is None or min_age != min_age else min_age
    high = None if max_age is None or max_age != max_age else max_age
    if (low is not None and p.age < low) or (high is not None and p.age > high):
        span = f"{low:g}" if low is not None else "any"
        span += f"–{high:g}" if high is not None else " and over"
        return [Reason("likely_excluded", f"age {p.age:g} is outside the trial's ages ({span})", "")]
    return []


def verdict(e: Eligibility, p: Profile, min_age: float | None = None, max_age: float | None = None) -> Verdict:
    """The verdict of one trial's facts for ``p``, with every reason."""
    unread = [] if e.text_given else [Reason("check", "the registry record gives no eligibility criteria", "")]
    reasons = [*_age(min_age, max_age, p), *unread, *_ecog(e, p), *_transplant(e, p), *_therapies(e, p), *_lines(e, p),
               *_markers(e, p)]
    if any(r.kind == "likely_excluded" for r in reasons):
        kind = "likely_excluded"
        reasons = [r for r in reasons if r.kind == "likely_excluded"] + [r for r in reasons if r.kind == "check"]
    else:
        kind = "check" if reasons else "no_conflict"
    return Verdict(kind, tuple(reasons))
