"""The tables of the bundled fixture records, built once per test process and shared by the boundary
tests (tests/test_boundaries_*.py). Read them, never change them: copy first."""

from __future__ import annotations

from functools import cache

import pandas as pd
from apiserver import load_fixture_studies

from trialfinder.find.tables import Tables, build_tables
from trialfinder.source.store import Dataset, DatasetMeta

META = DatasetMeta(source="snapshot", data_timestamp="2025-03", fetched_at=None)


@cache
def fixture_tables() -> Tables:
    """build_tables of the 377 records of fixtures/aml-studies."""
    return build_tables(Dataset(studies=load_fixture_studies(), meta=META))


def assert_same_tables(got: Tables, want: Tables) -> None:
    """The three frames equal, value for value (``check_exact``), their indexes of the same dtype."""
    for name in ("studies", "sites", "interventions"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)
        assert getattr(got, name).index.dtype == getattr(want, name).index.dtype
