"""trialfinder.present: FilterSpec <-> URL parameters and widget values (urlstate), and the display tables
(views, labels)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialfinder.find.filters import APP_DEFAULT, FilterCount, FilterSpec, SearchResult
from trialfinder.find.places import Place, geocode
from trialfinder.labels import age_range
from trialfinder.present import urlstate as appstate
from trialfinder.present import sitemap, views
from trialfinder.present.trial import TrialView
from trialfinder.present.urlstate import spec_from_params, spec_to_params

TUCSON = geocode("85719")

ONCOLOGIST = APP_DEFAULT.with_(statuses=("RECRUITING",), phases=("PHASE1", "PHASE2"), categories=("targeted",),
                               biomarkers=("FLT3", "KMT2A"), countries=("United States",))
PATIENT = APP_DEFAULT.with_(place=TUCSON, radius=250.0, age=58.0)


@pytest.mark.parametrize(
    "spec, params",
    [
        (APP_DEFAULT, {}),
        (PATIENT, {"near": "85719", "radius": "250", "age": "58"}),
        (ONCOLOGIST, {"cat": ["targeted"], "phase": ["1", "2"], "status": ["recruiting"], "bio": ["FLT3", "KMT2A"],
                      "country": ["United States"]}),
        (APP_DEFAULT.with_(statuses=(), disease_settings=()), {"setting": ["all"], "status": ["all"]}),
        (APP_DEFAULT.with_(phases=("EARLY_PHASE1", "NA"), unit="km", sex="FEMALE"),
         {"phase": ["early1", "na"], "unit": "km", "sex": "female"}),
        (APP_DEFAULT.with_(text="menin inhibitor", updated_since=dt.date(2024, 1, 31), sort="phase",
                           states=("Arizona",)),
         {"q": "menin inhibitor", "since": "2024-01-31", "sort": "phase", "state": ["Arizona"]}),
    ],
)
def test_spec_to_params_and_back(spec: FilterSpec, params: dict) -> None:
    assert spec_to_params(spec) == params
    assert spec_from_params(params) == (spec, [])


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"cat": "targeted,immunotherapy"}, {"categories": ("targeted", "immunotherapy")}),  # comma list
        ({"phase": "1/2"}, {"phases": ("PHASE1_PHASE2",)}),  # the combined phase alone (issue 19 item 7)
        ({"phase": ["1", "2"]}, {"phases": ("PHASE1", "PHASE2")}),
        ({"status": "not yet recruiting"}, {"statuses": ("NOT_YET_RECRUITING",)}),
        ({"status": ["recruiting", "RECRUITING"]}, {"statuses": ("RECRUITING",)}),  # duplicates dropped
        ({"radius": "any"}, {"radius": None}),
        ({"sex": "all"}, {"sex": None}),
        ({"state": "AZ"}, {"states": ("Arizona",)}),
        ({"country": "USA"}, {"countries": ("United States",)}),
        ({"bio": "menin"}, {"biomarkers": ("KMT2A",)}),
        ({"near": "  Tucson, AZ "}, {"place": geocode("Tucson, AZ")}),  # a comma inside a scalar is kept
        ({"utm_source": "mail", "embed": "true"}, {}),  # unknown keys: ignored silently
        ({"q": ""}, {}),
    ],
)
def test_spec_from_params_accepts_hand_written_links(params: dict, expected: dict) -> None:
    spec, problems = spec_from_params(params)
    assert problems == []
    assert spec == APP_DEFAULT.with_(**expected)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"radius": "-5"}, "radius"),
        ({"radius": "far"}, "radius"),
        ({"age": "200"}, "age"),
        ({"age": "abc"}, "age"),
        ({"since": "yesterday"}, "since"),
        ({"sort": "random"}, "sort"),
        ({"unit": "parsecs"}, "unit"),
        ({"sex": "x"}, "sex"),
        ({"cat": "astrology"}, "cat"),
        ({"phase": "7"}, "phase"),
        ({"status": "maybe"}, "status"),
        ({"bio": "XYZ1"}, "bio"),
        ({"near": "x" * 150}, "near"),
        ({"near": "Xyzzyville"}, "near"),  # a place that cannot be found is a problem like any other
        ({"q": "y" * 500}, "q"),
    ],
)
def test_bad_values_are_ignored_and_reported(params: dict, field: str) -> None:
    spec, problems = spec_from_params(params)
    assert spec == APP_DEFAULT
    assert len(problems) == 1 and problems[0].startswith(field)
    assert len(problems[0]) < 400


def test_good_values_survive_next_to_bad_ones() -> None:
    spec, problems = spec_from_params({"cat": ["targeted", "nonsense"], "age": "58", "radius": "zero"})
    assert spec.categories == ("targeted",) and spec.age == 58.0 and spec.radius is None
    assert len(problems) == 2


def test_spec_from_params_survives_a_non_mapping() -> None:
    spec, problems = spec_from_params(None)  # type: ignore[arg-type]
    assert spec == APP_DEFAULT and problems


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["near", "radius", "unit", "cat", "setting", "phase", "status", "age", "sex", "bio", "country",
                     "state", "q", "since", "sort", "other"]),
    st.one_of(st.text(max_size=60), st.lists(st.text(max_size=30), max_size=4), st.none(), st.integers()),
))
def test_spec_from_params_never_raises(params: dict) -> None:
    spec, problems = spec_from_params(params)
    assert isinstance(spec, FilterSpec) and isinstance(problems, list)
    again, _ = spec_from_params(spec_to_params(spec))
    assert again == spec  # whatever was kept round-trips


LINKED = APP_DEFAULT.with_(statuses=(), sort="updated", updated_since=dt.date(2023, 5, 1))


@pytest.mark.parametrize("spec", [APP_DEFAULT, PATIENT, ONCOLOGIST, LINKED])
def test_widget_values_round_trip(spec: FilterSpec) -> None:
    assert appstate.spec_from_widgets(appstate.widget_values(spec)) == (spec, [], None)


def test_spec_from_widgets_tidies_and_reports() -> None:
    values = appstate.widget_values(APP_DEFAULT) | {"near": "  85719  ", "text": "z" * 300, "sort": "distance"}
    spec, problems, place_problem = appstate.spec_from_widgets(values)
    assert spec.place == TUCSON and spec.text is None and spec.sort is None
    assert len(problems) == 1 and "200 characters" in problems[0] and place_problem is None


def test_spec_from_widgets_returns_the_place_problem() -> None:
    values = appstate.widget_values(APP_DEFAULT) | {"near": "Springfield"}
    spec, problems, place_problem = appstate.spec_from_widgets(values)
    assert spec.place is None and problems == []
    assert place_problem is not None and len(place_problem.candidates) > 1  # type: ignore[attr-defined]


def test_radius_choices() -> None:
    assert appstate.radius_options() == ["25", "50", "100", "250", "500", "any"]
    assert appstate.radius_options("75") == ["25", "50", "75", "100", "250", "500", "any"]
    assert appstate.radius_options("garbage") == appstate.radius_options()
    assert appstate.radius_value("any") is None and appstate.radius_value("100") == 100.0
    assert appstate.radius_label("any") == "any distance"


def test_same_params_treats_single_values_and_one_item_lists_alike() -> None:
    assert appstate.same_params({"cat": ["targeted"], "near": "85719"}, {"near": ["85719"], "cat": "targeted"})
    assert not appstate.same_params({"cat": ["targeted"]}, {})


@pytest.mark.parametrize("text", ["[click](javascript:alert(1))", "<script>alert(1)</script>", "*a* _b_ `c` $x$ #h"])
def test_escape_markdown_leaves_no_live_markup(text: str) -> None:
    escaped = views.escape_markdown(text)
    for ch in "[]()<>*_`$#":
        assert ch not in escaped.replace("\\" + ch, "")


def _result(with_place: bool) -> SearchResult:
    studies = pd.DataFrame(
        {
            "url": ["https://clinicaltrials.gov/study/NCT1", "https://clinicaltrials.gov/study/NCT2"],
            "title": ["A", "B"],
            "categories": [("targeted", "immunotherapy"), ()],
            "phase": ["Phase 1/2", ""],
            "status": ["RECRUITING", "NOT_YET_RECRUITING"],
            "disease_setting": [("relapsed_refractory",), ()],
            "last_update_date": pd.to_datetime(["2024-01-02", None]),
        },
        index=["NCT1", "NCT2"],
    )
    place = Place("85719", "Tucson, AZ 85719", 32.2, -110.9, "zip") if with_place else None
    spec = APP_DEFAULT.with_(place=place)
    if with_place:
        studies["nearest_site"] = ["Cancer Center, Tucson, Arizona", None]
        studies["nearest_site_status"] = ["COMPLETED", None]
        studies["nearest_is_open"] = [False, None]
        studies["distance_mi"] = [3.2, float("nan")]
    return SearchResult(studies=studies, spec=spec,
                        counts=[FilterCount("status", "recruiting", 5), FilterCount("setting", "r/r", 2)])


def test_results_frame_labels() -> None:
    frame = views.results_frame(_result(with_place=True))
    assert list(frame["categories"]) == ["Targeted therapy, Immunotherapy & biologics", "Other / no treatment category"]
    assert list(frame["status"]) == ["Recruiting", "Not yet recruiting"]
    assert list(frame["phase"]) == ["Phase 1/2", "not stated"]  # a full record that states no phase
    assert list(frame["setting"]) == ["relapsed/refractory", "setting not stated"]
    assert frame["site_status"][0] == "no recruiting site; nearest is Completed"
    assert frame["site_status"][1] == "no located site"
    assert list(frame["distance"]) == ["≈ 3 mi", "not located"]
    assert list(frame.columns[:2]) == ["url", "distance"]
    assert "distance" not in views.results_frame(_result(with_place=False))


def test_counts_carry_the_filter_names() -> None:
    result = _result(with_place=True)
    result.counts.append(FilterCount("distance", "within 100 mi of Tucson", 1))
    assert result.left_after() == {"status": 5, "setting": 2, "distance": 1}
    assert result.describe() == "recruiting · r/r · within 100 mi of Tucson"


def test_chart_counts() -> None:
    result = _result(with_place=False)
    assert views.category_counts(result).to_dict() == {
        "Targeted therapy": 1, "Immunotherapy & biologics": 1, "Other / no treatment category": 1}
    assert views.phase_counts(result).to_dict() == {"Phase 1/2": 1, "not given": 1}


def _view(sites: pd.DataFrame, place: Place | None) -> TrialView:
    """A trial view holding only sites (what sites_frame reads), ordered as trial_view orders them."""
    from trialfinder.find.places import sites_by_distance

    return TrialView("N", "", "", "", "", "", "", "any", "any", "any", "all", "", [], "", "", "", "", "",
                     sites_by_distance(sites, place), place, "mi", "")


def test_sites_frame_puts_unlocated_sites_last() -> None:
    sites = pd.DataFrame({
        "nct_id": ["N"] * 3, "facility": ["Far", "", "Near"], "city": ["Boston", "Nowhere", "Tucson"],
        "state": ["MA", "", "AZ"], "country": ["United States"] * 3,
        "site_status": ["RECRUITING", "", "COMPLETED"], "latitude": [42.36, None, 32.22],
        "longitude": [-71.06, None, -110.93], "contacts": ["", "", "Dr X · 555"],
    })
    place = Place("85719", "Tucson, AZ 85719", 32.25, -110.95, "zip")
    frame = views.sites_frame(_view(sites, place))
    assert list(frame["facility"]) == ["Near", "Far", "(not named)"]
    assert list(frame["status"]) == ["Completed", "Recruiting", "status unknown"]  # absent: unknown (issue 19)
    assert list(frame["distance"]) == ["≈ 2 mi", "≈ 2,277 mi", "not located"]
    assert set(views.sites_frame(_view(sites, None))["distance"]) == {""}
    points = sitemap.site_points(sites, pd.Index(["N"]))  # located sites only (the map draws "You" apart)
    assert sorted(points["latitude"]) == [32.22, 42.36] and set(points["trials"]) == {1}


@pytest.mark.parametrize("low, high, text", [
    (18.0, 74.0, "18–74"), (18.0, float("nan"), "18 and over"), (float("nan"), 74.0, "up to 74"),
    (None, None, "any"), (0.5, 21, "0.5–21"),
])
def test_age_range(low, high, text) -> None:
    assert age_range(low, high) == text


def test_results_frame_carries_evidence_and_biomarkers() -> None:
    """The results list shows each category with why, and the biomarkers, from the same frame."""
    result = _result(with_place=True)
    studies = result.studies.assign(evidence=[{"targeted": "Ziftomenib — menin inhibitor"}, {}],
                                    biomarkers=[("KMT2A", "NPM1"), ()])
    frame = views.results_frame(dataclasses.replace(result, studies=studies))
    assert frame["evidence"][0] == ("Targeted therapy: Ziftomenib — menin inhibitor\n"
                                    "Immunotherapy & biologics")  # a category without its why keeps its name
    assert list(frame["biomarkers"]) == ["KMT2A, NPM1", ""]
    assert views.of_them(1) == "1 of them has" and views.of_them(3) == "3 of them have"


def test_sort_choices_offer_nearest_only_with_a_place() -> None:
    with_place, label = appstate.sort_choices("distance", True)
    assert [label(k) for k in with_place] == ["nearest first", "recently updated", "latest phase first"]
    for current in (None, "distance", "phase"):
        options, label = appstate.sort_choices(current, False)
        assert [label(k) for k in options] == ["recently updated", "latest phase first"]
        assert current in options or current is None
    options, label = appstate.sort_choices("updated", False)  # from a link: kept, and still one "recently updated"
    assert options == ["updated", "phase"]


def test_without_a_place_the_results_count_sites_and_claim_only_open_ones() -> None:
    result = _result(with_place=False)
    studies = result.studies.assign(sites_count=[6, 0], open_sites_count=[2, 0])
    frame = views.results_frame(dataclasses.replace(result, studies=studies))
    assert list(frame["sites"]) == ["6 sites, 2 open to enrolment", "no site listed"]
    studies = result.studies.assign(sites_count=[1, 240], open_sites_count=[0, 0])  # statuses not given
    assert list(views.results_frame(dataclasses.replace(result, studies=studies))["sites"]) == ["1 site", "240 sites"]
