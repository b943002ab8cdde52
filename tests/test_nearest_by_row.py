"""places.nearest_by_row (the filter path) gives exactly nearest_sites(...).reindex(studies index)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixture_tables import fixture_tables

from trialfinder.find import places


@pytest.mark.parametrize("where", ["77030", "Tucson, AZ", "Paris, France"])
@pytest.mark.parametrize("share", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("unit", ["mi", "km"])
def test_nearest_by_row_is_nearest_sites_reindexed(where, share, unit):
    tables = fixture_tables()
    place = places.geocode(where)
    rows = tables.sites["study_row"].to_numpy()
    kept = np.random.default_rng(len(where)).random(len(tables.studies)) < share
    mask = (rows >= 0) & kept[np.maximum(rows, 0)]
    want = places.nearest_sites(tables.sites, place, unit=unit, mask=mask).reindex(tables.studies.index)
    got = places.nearest_by_row(tables.sites, place, tables.studies.index, unit=unit, mask=mask)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_names=False)


def test_every_study_located_keeps_the_column_types():
    tables = fixture_tables()
    located = tables.sites["latitude"].notna().to_numpy()
    with_site = np.unique(tables.sites["study_row"].to_numpy()[located])
    studies = tables.studies.iloc[with_site]
    position = {n: k for k, n in enumerate(studies.index)}
    sites = tables.sites[tables.sites["nct_id"].isin(position)].copy()
    sites["study_row"] = [position[n] for n in sites["nct_id"]]
    place = places.geocode("77030")
    got = places.nearest_by_row(sites, place, studies.index)
    want = places.nearest_sites(sites, place).reindex(studies.index)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_names=False)
    assert got["nearest_is_open"].dtype == bool
