"""What we ask ClinicalTrials.gov for: a SearchQuery value and a pure ``to_params``.

The default search is relapsed/refractory AML. ``requests`` does all URL encoding; user text
is turned into quoted phrases first, so it cannot change the meaning of the search syntax
(no stray ``OR``, ``AREA[...]``, brackets or quotes get through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import InvalidInput
from .vocab import ACTIONABLE_STATUSES, Status, parse_status

#: conditions: AML and its synonyms, in the API's Essie search syntax
AML_CONDITION = (
    '"acute myeloid leukemia" OR "acute myelogenous leukemia" OR "acute myeloblastic leukemia" '
    'OR "acute non-lymphocytic leukemia" OR "acute nonlymphocytic leukemia" OR AML'
)
#: other terms: what makes a study relapsed/refractory
RR_TERMS = (
    "relapsed OR refractory OR recurrent OR resistant OR relapse "
    'OR "induction failure" OR "primary refractory" OR salvage OR "second-line"'
)

#: only the parts of a record the product reads (API v2 ``fields``)
FIELDS: tuple[str, ...] = (
    "protocolSection.identificationModule",
    "protocolSection.statusModule",
    "protocolSection.sponsorCollaboratorsModule.leadSponsor",
    "protocolSection.descriptionModule.briefSummary",  # not detailedDescription: nothing reads it
    "protocolSection.conditionsModule",
    "protocolSection.designModule",
    "protocolSection.armsInterventionsModule",
    "protocolSection.eligibilityModule",
    "protocolSection.contactsLocationsModule",
)

_UNSAFE = re.compile(r'[\"\'()\[\]{}^~*\\:]+')
_OPERATORS = re.compile(r"\b(AND|OR|NOT|AREA|RANGE|SEARCH|EXPANSION|COVERAGE|MISSING)\b")


def phrase(text: str) -> str:
    """User text -> one quoted phrase that the search engine reads literally."""
    cleaned = _UNSAFE.sub(" ", text)
    cleaned = _OPERATORS.sub(lambda m: m.group(0).lower(), cleaned)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise InvalidInput(f"search text {text!r} has no letters or digits to search for")
    if len(cleaned) > 200:
        raise InvalidInput("search text is longer than 200 characters; shorten it")
    return f'"{cleaned}"'


def phrases(text: str) -> str:
    """'menin, FLT3' -> '"menin" OR "FLT3"' (comma-separated alternatives)."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise InvalidInput("empty search text; give a word or a phrase")
    return " OR ".join(phrase(p) for p in parts)


@dataclass(frozen=True)
class SearchQuery:
    """A search of the registry. ``condition``/``term`` are raw Essie expressions: build them
    from user text with :func:`SearchQuery.from_user`."""

    condition: str = AML_CONDITION
    term: str | None = RR_TERMS
    statuses: tuple[str, ...] = ACTIONABLE_STATUSES  # () means every status
    ids: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_user(
        cls,
        condition: str | None = None,
        term: str | None = None,
        statuses: list[str] | tuple[str, ...] | None = None,
        widen: bool = False,
    ) -> "SearchQuery":
        """The default R/R AML search, changed by what a user typed.

        ``condition``/``term`` replace the defaults (as literal phrases); ``widen`` drops the
        relapsed/refractory terms; ``statuses`` may contain ``all``.
        """
        cond = phrases(condition) if condition else AML_CONDITION
        the_term = phrases(term) if term else (None if widen else RR_TERMS)
        return cls(condition=cond, term=the_term, statuses=parse_statuses(statuses))

    def describe(self) -> str:
        status = "every status" if not self.statuses else ", ".join(s.lower() for s in self.statuses)
        text = f"conditions: {self.condition}"
        if self.term:
            text += f"; terms: {self.term}"
        return f"{text}; statuses: {status}"


def parse_statuses(
    values: list[str] | tuple[str, ...] | None, default: tuple[str, ...] = ACTIONABLE_STATUSES
) -> tuple[str, ...]:
    """('recruiting', 'not yet recruiting,completed') -> status keys; 'all' -> () (every status);
    nothing given -> ``default``. Used by the fetch query and by the search filters."""
    flat = [v for value in values or () for v in str(value).split(",") if v.strip()]
    if not flat:
        return default
    if any(v.strip().lower() == "all" for v in flat):
        return ()
    return tuple(dict.fromkeys(parse_status(v) for v in flat))


def to_params(
    query: SearchQuery,
    *,
    page_size: int = 1000,
    page_token: str | None = None,
    fields: tuple[str, ...] | None = FIELDS,
) -> dict[str, str]:
    """The query string of one ``GET /studies`` page. Pure: same input, same dict."""
    params: dict[str, str] = {"format": "json", "pageSize": str(page_size)}
    if query.ids:
        params["filter.ids"] = ",".join(query.ids)
    else:
        if query.condition:
            params["query.cond"] = query.condition
        if query.term:
            params["query.term"] = query.term
    if query.statuses:
        params["filter.overallStatus"] = ",".join(Status(s).value for s in query.statuses)
    if fields:
        params["fields"] = ",".join(fields)
    if page_token:
        params["pageToken"] = page_token
    else:
        params["countTotal"] = "true"
    return params
