"""TrialFinder: find clinical trials for relapsed or refractory acute myeloid leukemia.

The public API, imported lazily so that ``trialfinder --version`` stays fast::

    from trialfinder import Settings, load_tables, FilterSpec, geocode, search
    tables = load_tables(Settings.from_env())
    result = search(tables, FilterSpec(place=geocode("85719"), radius=250, statuses=("RECRUITING",)))

The package flows one way, one folder a stage: ``source`` (settings, HTTP, the API client, the data
set on disk) → ``classify`` (categories, disease setting, biomarkers) → ``find`` (tables, filters,
places, exports) → ``present`` (views of results and of one trial) → ``cli`` and ``app.py``.
``errors``, ``labels`` and ``sanitize`` (the one sanitiser for text leaving the program) are leaves
every stage may read.

Successors (0.2): ``classify`` (one study's categories) is ``classify_study`` — ``trialfinder.classify``
is now the classify stage's folder; a FilterSpec takes a geocoded ``place`` instead of ``near`` text.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": ("source.settings", "Settings"),
    "SearchQuery": ("source.query", "SearchQuery"),
    "build_session": ("source.session", "build_session"),
    "CtGovClient": ("source.client", "CtGovClient"),
    "FetchResult": ("source.client", "FetchResult"),
    "load_dataset": ("source.dataset", "load_dataset"),
    "refresh_dataset": ("source.dataset", "refresh_dataset"),
    "Dataset": ("source.store", "Dataset"),
    "DatasetMeta": ("source.store", "DatasetMeta"),
    "classify_study": ("classify.categories", "classify"),
    "disease_setting": ("classify.disease_setting", "disease_setting"),
    "biomarkers": ("classify.biomarkers", "biomarkers"),
    "build_tables": ("find.tables", "build_tables"),
    "Tables": ("find.tables", "Tables"),
    "load_tables": ("find.tablecache", "load_tables"),
    "FilterSpec": ("find.filters", "FilterSpec"),
    "SearchResult": ("find.filters", "SearchResult"),
    "search": ("find.filters", "search"),
    "geocode": ("find.places", "geocode"),
    "to_csv": ("find.export", "to_csv"),
    "to_xlsx": ("find.export", "to_xlsx"),
    "TrialFinderError": ("errors", "TrialFinderError"),
    "ApiError": ("errors", "ApiError"),
    "RateLimited": ("errors", "RateLimited"),
    "ApiUnreachable": ("errors", "ApiUnreachable"),
    "InvalidResponse": ("errors", "InvalidResponse"),
    "DataError": ("errors", "DataError"),
    "StoreUnavailable": ("errors", "StoreUnavailable"),
    "InvalidInput": ("errors", "InvalidInput"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'trialfinder' has no attribute {name!r}")
