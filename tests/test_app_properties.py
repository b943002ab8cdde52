"""Every app filter driven with arbitrary text (1,000 examples each): the URL parameter is parsed
as the page parses it, then the search runs as the page runs it. Nothing may raise except the
InvalidInput the page turns into a message (an unresolvable place)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialfinder.find.filters import search
from trialfinder.find.tablecache import load_tables
from trialfinder.present.urlstate import spec_from_params
from trialfinder.source.settings import Settings

PARAMS = ["near", "radius", "unit", "cat", "setting", "phase", "status", "age", "sex", "bio", "country", "state",
          "q", "since", "sort"]
TEXT = st.one_of(
    st.text(max_size=80),
    st.text(min_size=150, max_size=400),
    st.sampled_from(["1e308", "-0", "nan", "inf", "-1", "0", "85719", "Tucson, AZ", "all", "any", "", " ",
                     "<script>alert(1)</script>", "=HYPERLINK(\"x\")", "１２３４５", "2025-13-45"]),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats().map(str),
)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return load_tables(Settings(cache_dir=tmp_path_factory.mktemp("cache")))


@pytest.mark.parametrize("key", PARAMS)
def test_every_app_filter_survives_arbitrary_text(tables, key):
    @settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=st.one_of(TEXT, st.lists(TEXT, max_size=3)))
    def run(value):
        spec, problems = spec_from_params({key: value})  # (geocodes near: a place not found is a problem)
        assert isinstance(problems, list) and all(p and "\n" not in p for p in problems)
        result = search(tables, spec)
        assert len(result.studies) <= len(tables.studies)
        assert isinstance(result.describe(), str)

    run()
