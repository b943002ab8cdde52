"""TrialFinder: find clinical trials for relapsed or refractory acute myeloid leukemia.

The public API, imported lazily so that ``trialfinder --version`` stays fast::

    from trialfinder import Settings, refresh_dataset, load_tables, FilterSpec, search
    tables = load_tables(Settings.from_env())
    result = search(tables, FilterSpec(near="85719", radius=250, statuses=("RECRUITING",)))
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "config",
    "SearchQuery": "query",
    "build_session": "session",
    "CtGovClient": "client",
    "FetchResult": "client",
    "load_dataset": "dataset",
    "refresh_dataset": "dataset",
    "Dataset": "store",
    "DatasetMeta": "store",
    "build_tables": "tables",
    "Tables": "tables",
    "load_tables": "tablecache",
    "classify": "categories",
    "disease_setting": "setting",
    "biomarkers": "biomarkers",
    "FilterSpec": "filters",
    "SearchResult": "filters",
    "search": "filters",
    "geocode": "geo",
    "to_csv": "export",
    "to_xlsx": "export",
    "TrialFinderError": "errors",
    "ApiError": "errors",
    "RateLimited": "errors",
    "ApiUnreachable": "errors",
    "InvalidResponse": "errors",
    "DataError": "errors",
    "InvalidInput": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'trialfinder' has no attribute {name!r}")
