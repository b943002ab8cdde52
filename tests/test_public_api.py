"""The package's public API: every name in __all__ resolves, and the README example runs."""

from __future__ import annotations

import trialfinder


def test_every_public_name_resolves():
    for name in trialfinder.__all__:
        assert getattr(trialfinder, name) is not None, name


def test_the_docstring_example_runs(tmp_path):
    from trialfinder import FilterSpec, Settings, geocode, load_tables, search

    tables = load_tables(Settings(cache_dir=tmp_path / "cache"))
    result = search(tables, FilterSpec(place=geocode("85719"), radius=250, statuses=("RECRUITING",)))
    assert result.place is not None and result.place.label.startswith("Tucson")
    assert (result.studies["distance_mi"].dropna() <= 250).all()
