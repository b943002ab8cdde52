"""What changed between the previous complete data set and the current one (a trial navigator's
weekly list): trials new since the last refresh, trials whose overall status changed, and sites that
opened, closed or started recruiting — each with its value before and after.

The store keeps the data set before the last refresh as ``previous.json``
(:class:`~trialfinder.source.database.DbStore`); :func:`compare` is pure (two lists of raw records in,
one table out) and :func:`changes_since_last_refresh` reads the two files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import TrialFinderError
from ..labels import status_label
from ..source.database import open_store
from ..source.normalize import site_tuples, study_row
from ..source.settings import Settings
from ..source.store import DatasetMeta
from ..source.vocab import OPEN_SITE_STATUSES

#: the kinds of change, in the order they are listed
KINDS = ("new trial", "trial status changed", "site opened", "site started recruiting", "site closed",
         "site status changed", "trial no longer in the data set")
COLUMNS = ["change", "nct_id", "title", "site", "before", "after", "url"]
NOT_LISTED = "not listed"


@dataclass(frozen=True)
class Region:
    """Where the changes are wanted (a navigator's region): sites in one of ``countries`` (if given) and
    in one of ``states`` (if given), as the search's country and state filters read them. Empty: anywhere."""

    countries: tuple[str, ...] = ()
    states: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.countries or self.states)

    def holds(self, key: tuple[str, ...]) -> bool:
        """Whether a site (facility, city, state, country) is in the region (names compared without case)."""
        state, country = key[2] or "", key[3] or ""
        return ((not self.countries or country.casefold() in {c.casefold() for c in self.countries})
                and (not self.states or state.casefold() in {s.casefold() for s in self.states}))

    def describe(self) -> str:
        return " · ".join(filter(None, (" or ".join(self.states), " or ".join(self.countries))))


ANYWHERE = Region()


@dataclass
class Changes:
    table: pd.DataFrame  # COLUMNS, one row a change
    before: DatasetMeta
    after: DatasetMeta
    region: Region = ANYWHERE

    def describe(self) -> str:
        where = f" · sites in {self.region.describe()}" if self.region else ""
        return f"changes from {self.before.describe()} to {self.after.describe()}{where}"

    def counts(self) -> dict[str, int]:
        """Kind -> how many, for the kinds that occur (in KINDS order)."""
        found = self.table["change"].value_counts()
        return {kind: int(found[kind]) for kind in KINDS if kind in found}


def _studies(records: Iterable[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[tuple[str, ...], str]]]:
    """nct_id -> (its study row, {site key (facility, city, state, country): site status})."""
    out: dict[str, tuple[dict[str, Any], dict[tuple[str, ...], str]]] = {}
    for record in records:
        row = study_row(record)
        if row.get("nct_id"):
            sites: dict[tuple[str, ...], str] = {(s[1], s[2], s[3], s[5]): s[6] or "" for s in site_tuples(record)}
            out[row["nct_id"]] = (row, sites)
    return out


def _site_name(key: tuple[str, ...]) -> str:
    facility, city, state, country = key
    return ", ".join(part for part in (facility or "(facility not named)", city, state, country) if part)


def _label(status: str) -> str:
    return status_label(status) or "status unknown"


def _site_change(old: str | None, new: str | None) -> tuple[str, str, str] | None:
    """(kind, before, after) for one site, or None when nothing changed."""
    if old == new:
        return None
    if old is None:
        return "site opened", NOT_LISTED, _label(new or "")
    if new is None:
        return "site closed", _label(old), NOT_LISTED
    if new in OPEN_SITE_STATUSES and old not in OPEN_SITE_STATUSES:
        return "site started recruiting", _label(old), _label(new)
    if old in OPEN_SITE_STATUSES and new not in OPEN_SITE_STATUSES:
        return "site closed", _label(old), _label(new)
    return "site status changed", _label(old), _label(new)


def compare(before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]], region: Region = ANYWHERE,
            ) -> pd.DataFrame:
    """Every change from ``before`` to ``after`` (raw API records), one row each, in KINDS order.

    With a ``region``, only its sites count: a trial's own changes are listed when it has a site there
    (before or after), a site's when the site is there; a trial that opens its first site in the region
    is a site opened there, not a new trial."""
    old, new = _studies(before), _studies(after)

    def here(sites: dict[tuple[str, ...], str]) -> dict[tuple[str, ...], str]:
        return {k: v for k, v in sites.items() if region.holds(k)} if region else sites

    rows: list[tuple[str, ...]] = []
    for nct, (row, all_sites) in new.items():
        title, url, sites = row.get("title") or "", row.get("url") or "", here(all_sites)
        then, then_sites = old[nct] if nct in old else ({}, {})
        then_sites = here(then_sites)
        if region and not sites and not then_sites:
            continue
        if nct not in old:
            rows.append(("new trial", nct, title, "", NOT_LISTED, _label(row.get("status") or ""), url))
            continue
        if (then.get("status") or "") != (row.get("status") or ""):
            rows.append(("trial status changed", nct, title, "", _label(then.get("status") or ""),
                         _label(row.get("status") or ""), url))
        for key in dict.fromkeys([*then_sites, *sites]):
            change = _site_change(then_sites.get(key), sites.get(key))
            if change is not None:
                rows.append((change[0], nct, title, _site_name(key), change[1], change[2], url))
    for nct, (row, then_sites) in old.items():
        if nct not in new and (not region or here(then_sites)):
            rows.append(("trial no longer in the data set", nct, row.get("title") or "", "",
                         _label(row.get("status") or ""), NOT_LISTED, row.get("url") or ""))
    table = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    order = {kind: k for k, kind in enumerate(KINDS)}
    return table.sort_values(["change", "nct_id", "site"], key=lambda col: col.map(order) if col.name == "change"
                             else col, kind="stable").reset_index(drop=True)


def changes_since_last_refresh(settings: Settings, region: Region = ANYWHERE) -> Changes:
    """Compare the stored previous data set with the current one (in ``region``, if given); a one-line
    error when there is no previous one yet (it appears with the second refresh)."""
    store = open_store(settings)
    current = store.load("current")
    previous = store.load("previous")
    if current is None or previous is None:
        raise TrialFinderError(
            "no earlier data set to compare with yet: what changed is known from the second refresh on "
            "(`trialfinder fetch --refresh`, or Refresh data in the app)")
    return Changes(compare(previous.studies, current.studies, region), previous.meta, current.meta, region)


def to_csv(changes: Changes) -> str:
    """The changes as CSV (text made inert and formula-like text neutralised, as in every export)."""
    from ..sanitize import block
    from .export import neutralise

    return changes.table.map(lambda v: neutralise(block(v)) if isinstance(v, str) else v).to_csv(
        index=False, lineterminator="\n")
