"""TrialFinder: a thin Streamlit page over the trialfinder library.

widgets -> FilterSpec (trialfinder.present.urlstate) -> find.filters.search -> render. The filter state is
mirrored into the URL (st.query_params) so a search can be bookmarked or sent to a doctor.
Registry text is untrusted: it is shown only through st.text, st.code and st.dataframe, and in the
results list, whose HTML trialfinder.present.results builds with every value escaped; never through
markdown.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="TrialFinder · R/R AML trials", page_icon=":material/search:", layout="wide")
# The results list's style, first: the browser starts loading the code that draws st.html while this script
# is still importing (else it waits for it after the results arrive)
from trialfinder.present.results import CSS  # noqa: E402

st.html(CSS)

import datetime as dt  # noqa: E402
import gc  # noqa: E402
from html import escape  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from trialfinder.classify.biomarkers import BIOMARKER_KEYS  # noqa: E402
from trialfinder.classify.categories import CATEGORY_KEYS  # noqa: E402
from trialfinder.classify.disease_setting import DISEASE_SETTING_KEYS  # noqa: E402
from trialfinder.errors import TrialFinderError  # noqa: E402
from trialfinder.find import export, places, regions  # noqa: E402
from trialfinder.find.filters import search  # noqa: E402
from trialfinder.find.tablecache import load_tables  # noqa: E402
from trialfinder.find.tables import Tables  # noqa: E402
from trialfinder.labels import (  # noqa: E402
    CATEGORY_DESCRIPTIONS,
    CATEGORY_LABELS,
    DEFAULTS_NOTE,
    DISCLAIMER,
    DISEASE_SETTING_LABELS,
    PHASE_CHOICES,
    SEX_LABELS,
    STATUS_LABELS,
    UNITS,
    enrolment_label,
)
from trialfinder.present import sitemap, urlstate, views  # noqa: E402
from trialfinder.present.results import results_html  # noqa: E402
from trialfinder.present.trial import trial_view  # noqa: E402
from trialfinder.source import freshness  # noqa: E402
from trialfinder.source.dataset import refresh_dataset  # noqa: E402
from trialfinder.source.settings import Settings  # noqa: E402

md = views.escape_markdown  # for our messages that quote user or data text


# --- cached library calls ---------------------------------------------------------------------

DataKey = tuple[str, str, Any]


def data_key(settings: Settings) -> DataKey:
    """Changes whenever the stored data set is replaced (by this app or another process: seen within
    TRIALFINDER_VERSION_CHECK seconds), so the caches follow."""
    return str(settings.cache_dir), str(settings.snapshot_dir), freshness.current_version(settings)


@st.cache_resource(show_spinner="Loading trials…", max_entries=4)
def get_tables(key: DataKey) -> Tables:
    cache_dir, snapshot_dir, _ = key
    settings = Settings.from_env(cache_dir=Path(cache_dir), snapshot_dir=Path(snapshot_dir))
    return load_tables(settings)


@st.cache_data(show_spinner=False, max_entries=256)
def locate(text: str) -> places.Place:
    return places.geocode(text)


@st.cache_data(show_spinner=False, max_entries=8)
def choices(key: DataKey) -> dict[str, list[str]]:
    sites = get_tables(key).sites
    return {"country": sorted({v for v in sites["country"].dropna() if v}), "state": regions.region_choices(sites)}


@st.cache_data(show_spinner=False, max_entries=8)
def what_changed(key: DataKey, countries: tuple[str, ...], states: tuple[str, ...]) -> tuple[Any, str, str] | None:
    """(the changes table, what was compared, CSV) since the last refresh in the searched region (the
    search's country/state filters); None before the second refresh."""
    from trialfinder.find.changes import Region, changes_since_last_refresh, to_csv

    try:
        found = changes_since_last_refresh(Settings.from_env(cache_dir=Path(key[0]), snapshot_dir=Path(key[1])),
                                           Region(countries, states))
    except TrialFinderError:
        return None
    return found.table, found.describe(), to_csv(found)


@st.cache_resource(show_spinner=False, max_entries=1)
def freeze_heap(key: DataKey) -> None:
    """Once per data set and process, after a run: what is alive now (modules, the tables) is moved out of
    the garbage collector's sight (gc.freeze), so the collection Streamlit runs after every script run
    (runner.postScriptGC) walks only what later runs make: ~0.5 ms instead of ~150 ms a run. The previous
    freeze is undone first, so a replaced data set can still be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@st.cache_data(show_spinner=False, max_entries=64)
def results_csv(key: DataKey, search_repr: str, readable: bool, _result: Any) -> str:
    """The CSV of a search, shared by every session that makes the same search on the same data set
    (``search_repr``: the repr of its frozen FilterSpec, every field). ~0.1 s a run otherwise."""
    return export.to_csv(_result, readable)


@st.cache_data(show_spinner=False, max_entries=64)
def results_list(key: DataKey, search_repr: str, label: str, _frame: Any, _ids: list[str]) -> str:
    """The results list's HTML of a search, shared like results_csv."""
    return results_html(_frame, _ids, label)


def make_pdf(result: Any, tables: Tables) -> bytes:
    from trialfinder.present.pdf import to_pdf

    return to_pdf(result, tables)


def note(text: str) -> None:
    """Key information as body text (st.caption's grey fails the contrast check)."""
    st.markdown(text)


def fail(message: str) -> None:
    st.error(message)
    st.stop()


# --- state: URL -> widgets (first run), widgets -> URL (every run) ----------------------------

def seed_widgets_from_url() -> None:
    if "seeded" in st.session_state:
        return
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    spec, problems = urlstate.spec_from_params(params, locate=locate)
    for key, value in urlstate.widget_values(spec).items():
        st.session_state[key] = value
    st.session_state.url_problems = problems
    st.session_state.unit_chosen = "unit" in params  # else the place's custom decides (km in Paris)
    st.session_state.seeded = True


def filters_sidebar(counts: dict[str, Any], key: DataKey) -> None:
    """The filters, each followed by a slot (in ``counts``) for the number of trials it leaves. Drawn after
    the results: a widget's value is in session state from the start of a run (seeded from the link on the
    first), so the search need not wait for them, and the browser draws the results first."""
    with st.sidebar:
        st.header("Filters", anchor=False)
        note("They apply top to bottom; under each, the number of trials left after it.")
        note(DEFAULTS_NOTE)
        st.multiselect("Overall status", list(STATUS_LABELS), key="statuses", format_func=enrolment_label,
                       placeholder="any status (all)",
                       help="Default: the statuses a patient can enrol in. Clear it to see every status.")
        counts["status"] = st.empty()
        st.multiselect("Disease setting", list(DISEASE_SETTING_KEYS), key="disease_settings",
                       format_func=lambda k: DISEASE_SETTING_LABELS.get(k, k), placeholder="any setting (all)",
                       help="Trials whose record states no setting are always included, labelled 'setting not stated'.")
        counts["setting"] = st.empty()
        st.multiselect("Treatment category", [*CATEGORY_KEYS, "other"], key="categories",
                       format_func=lambda k: CATEGORY_LABELS.get(k, k), placeholder="any category",
                       help="\n\n".join(f"**{CATEGORY_LABELS[k]}**: {d}" for k, d in CATEGORY_DESCRIPTIONS.items()))
        counts["category"] = st.empty()
        st.multiselect("Phase", list(PHASE_CHOICES), key="phases", format_func=PHASE_CHOICES.get,
                       placeholder="any phase",
                       help="Phase 1 includes phase 1/2 trials; Phase 1/2 means only trials of the combined phase 1/2.")
        counts["phase"] = st.empty()
        st.number_input("Patient age (years)", min_value=0.0, max_value=130.0, value=None, step=1.0, key="age",
                        format="%g", placeholder="any age")
        counts["age"] = st.empty()
        st.selectbox("Sex", list(SEX_LABELS), key="sex", format_func=SEX_LABELS.get)
        counts["sex"] = st.empty()
        st.multiselect("Biomarker", list(BIOMARKER_KEYS), key="biomarkers", placeholder="any biomarker")
        counts["biomarker"] = st.empty()
        options = choices(key)
        st.multiselect("Country", sorted({*options["country"], *st.session_state.get("countries", [])}),
                       key="countries", placeholder="any country")
        counts["country"] = st.empty()
        st.multiselect("State / region", sorted({*options["state"], *st.session_state.get("states", [])}),
                       key="states", placeholder="any state")
        counts["state"] = st.empty()
        st.text_input("Search titles, drugs, drug classes, sponsor", key="text",
                      placeholder="e.g. menin, FLT3 (a comma means or)")
        counts["text"] = st.empty()
        st.date_input("Last updated since", value=None, key="updated_since", min_value=dt.date(1999, 1, 1),
                      max_value=dt.date.today(), format="YYYY-MM-DD")
        counts["updated"] = st.empty()


def show_counts(counts: dict[str, Any], result: Any) -> None:
    """'→ N trials left' under each filter that has its slot already."""
    for name, count in result.left_after().items():
        if name in counts:
            counts[name].markdown(f"→ {count} trials left"
                                  + (f"; {result.undated} without an update date left out" if name == "updated"
                                     and result.undated else ""))


def pick_place(label: str) -> None:
    st.session_state.near = label


def refresh(settings: Settings) -> None:
    with st.spinner("Downloading the latest trials from ClinicalTrials.gov…"):
        try:
            dataset, _ = refresh_dataset(settings, refresh=True)
        except TrialFinderError as exc:
            st.error(f"Refresh failed; still showing the previous data. {md(exc)}")
            return
        except Exception as exc:  # a bug of ours must not cost the user the data on screen
            st.error(f"Refresh failed unexpectedly ({md(type(exc).__name__)}); still showing the previous data.")
            return
    freshness.forget(settings)
    get_tables.clear()
    choices.clear()
    st.success(f"Data refreshed: {md(dataset.meta.describe())} · {len(dataset.studies)} studies.")
    for warning in dataset.meta.warnings:  # this download's warnings: shown once, not stored
        st.warning(md(warning))


# --- the page ---------------------------------------------------------------------------------

try:
    settings = Settings.from_env()
except TrialFinderError as exc:
    fail(f"Configuration problem: {md(exc)}")
seed_widgets_from_url()
if "pending_unit" in st.session_state:  # set before the unit widget exists (see the place below)
    st.session_state.unit = st.session_state.pop("pending_unit")

st.title("TrialFinder", anchor=False)
note("Clinical trials for relapsed or refractory acute myeloid leukemia (AML), from ClinicalTrials.gov")
banner, button = st.columns([5, 1], vertical_alignment="center")
if not settings.allow_refresh:  # a replica: a scheduled `trialfinder fetch` refreshes the shared store
    button.markdown("Refreshed on a schedule")
elif button.button("Refresh", help="Refresh data: download the current trials from ClinicalTrials.gov"):
    refresh(settings)
try:
    tables = get_tables(data_key(settings))
except TrialFinderError as exc:
    fail(f"No trial data could be loaded: {md(exc)}")
meta = tables.meta
offline = " — offline: refresh when connected for current statuses" if meta.source == "snapshot" else ""
banner.info(f"**Data:** {md(meta.describe())} · {len(tables.studies)} studies{offline}", icon=":material/database:")
for warning in meta.warnings or []:
    st.warning(md(warning))
st.warning(DISCLAIMER, icon=":material/medical_information:")
for problem in st.session_state.pop("url_problems", []):  # shown once, on arrival
    st.warning(f"From the link: {md(problem)}")

# Where
where, radius_col, unit_col = st.columns([3, 1.2, 1])
where.text_input("Where do you live? (ZIP code or city)", key="near",
                 placeholder="e.g. 85719, Tucson, AZ or Paris, France")
radius_col.selectbox(
    "Within", urlstate.radius_options(st.session_state.get("radius")), key="radius",
    format_func=urlstate.radius_label,
)
unit_col.radio("Unit", list(UNITS), key="unit", format_func=UNITS.get, horizontal=True,
               on_change=lambda: st.session_state.update(unit_chosen=True))
where_note = st.container()

counts: dict[str, Any] = {"distance": radius_col.empty()}  # each filter's slot for the trials it leaves

widgets = {key: st.session_state.get(key) for key in urlstate.WIDGETS}
spec, problems, place_problem = urlstate.spec_from_widgets(widgets, locate=locate)
for problem in problems:
    st.warning(md(problem))
params = urlstate.spec_to_params(spec)
if spec.place is None and place_problem is not None:
    params["near"] = " ".join(str(widgets["near"]).split())  # kept in the link as typed
if not urlstate.same_params(params, {key: st.query_params.get_all(key) for key in st.query_params}):
    st.query_params.from_dict(params)

place = spec.place
if place is not None and not st.session_state.get("unit_chosen") and places.default_unit(place) != spec.unit:
    st.session_state.pending_unit = places.default_unit(place)  # the local custom, until the user picks one
    st.rerun()
if place is not None:
    where_note.markdown(f"Distances are measured from {md(place.label)} (approximate, straight line).")
elif isinstance(place_problem, places.AmbiguousPlace):
    where_note.warning(f"{md(place_problem)}. Pick one:")
    cols = where_note.columns(min(len(place_problem.candidates), 4))
    for i, candidate in enumerate(place_problem.candidates):
        label = candidate.label.removesuffix(", United States")
        cols[i % len(cols)].button(md(label), key=f"place-{i}", on_click=pick_place, args=(label,))
elif place_problem is not None:
    where_note.warning(f"{md(place_problem)}. Showing trials without distances.")
try:
    result = search(tables, spec)
except TrialFinderError as exc:
    filters_sidebar(counts, data_key(settings))  # (to change the filter at fault)
    fail(md(exc))

# Results
studies = result.studies
found = f"{len(studies)} trial{'s' if len(studies) != 1 else ''} found"
st.header(found, anchor=False)
# a polite live region: a screen reader hears the new count when a filter changes (our text only, escaped)
st.markdown(f'<p role="status" aria-live="polite" aria-atomic="true">{escape(found)}: {escape(result.describe())}</p>',
            unsafe_allow_html=True)
if result.unlocated and result.unlocated_studies is None:
    note(f"{views.of_them(result.unlocated)} no site we could locate; they are listed last, without a distance.")
sort_col, labels_col = st.columns([2, 2], vertical_alignment="bottom")
sort_options, sort_label = urlstate.sort_choices(st.session_state.get("sort"), place is not None)
sort_col.selectbox("Sort by", sort_options, key="sort", format_func=sort_label)
readable = labels_col.toggle("Readable labels", key="export_labels",
                             help="Downloads with 'Recruiting', 'Phase 1/2' instead of the registry's codes")
downloads = st.container(horizontal=True)  # wraps instead of cutting the labels at 200 % zoom; filled below
unit = UNITS.get(spec.unit, spec.unit)
RESULT_COLUMNS = {
        "url": st.column_config.LinkColumn("Trial", display_text=r"https://clinicaltrials\.gov/study/(NCT\d+)",
                                           help="Opens the ClinicalTrials.gov record"),
        "title": st.column_config.TextColumn("Title", width="medium"),
        "categories": st.column_config.TextColumn("Categories", width="medium"),
        "setting": st.column_config.TextColumn("Setting"),
        "phase": st.column_config.TextColumn("Phase"),
        "status": st.column_config.TextColumn("Status"),
        "nearest_site": st.column_config.TextColumn("Nearest site", width="medium"),
        "site_status": st.column_config.TextColumn("Nearest site status"),
        "sites": st.column_config.TextColumn("Sites"),
        "distance": st.column_config.TextColumn(
            "Distance", width="small", help=f"Approximate straight-line distance in {unit} to the nearest site"),
        "last_update": st.column_config.DateColumn("Last update", format="YYYY-MM-DD"),
        "evidence": st.column_config.TextColumn("Why these categories", width="medium"),
        "biomarkers": st.column_config.TextColumn("Biomarkers"),
}
TABLE_ORDER = ["url", "distance", "title", "nearest_site", "site_status", "sites", "phase", "status", "categories",
               "evidence", "biomarkers", "setting", "ages", "last_update", "verdict"]
frame = views.results_frame(result)
if not studies.empty:
    order = ", nearest first" if place is not None and spec.sort is None else ""
    st.html(results_list(data_key(settings), repr(spec), found + order, frame, list(studies.index)))
# (what the page shows first is above: from here on, what is drawn below or beside the results)
filters_sidebar(counts, data_key(settings))
show_counts(counts, result)
downloads.download_button("Download CSV", results_csv(data_key(settings), repr(spec), readable, result),
                          file_name="trialfinder.csv",
                          mime="text/csv", on_click="ignore")
downloads.download_button("Download Excel", lambda: export.to_xlsx(result, meta, readable),
                          file_name="trialfinder.xlsx",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore")
with st.expander("The same trials as a sortable table (every column)"):
    st.dataframe(frame, hide_index=True, width="stretch", column_config=RESULT_COLUMNS, column_order=TABLE_ORDER)
if result.unlocated_studies is not None and result.unlocated:
    with st.expander(f"{result.unlocated} trial{'s' if result.unlocated != 1 else ''} whose sites could not be "
                     "located (not counted as within the radius)"):
        apart = views.results_frame(result, result.unlocated_studies)
        st.html(results_html(apart, list(result.unlocated_studies.index), "Trials whose sites could not be located"))
        st.dataframe(apart, hide_index=True, width="stretch", column_config=RESULT_COLUMNS, column_order=TABLE_ORDER)
note("Your search is in the page address: bookmark it or send it to your doctor.")

downloads.download_button("PDF for your doctor", lambda: make_pdf(result, tables), file_name="trialfinder.pdf",
                          mime="application/pdf", on_click="ignore",
                          help="The search, the data date and each trial with its nearest sites and contacts")

# Detail of one trial (registry text only through st.text / st.code / st.dataframe)
st.header("Trial detail", anchor=False)
if studies.empty:
    st.text("No trial matches; widen the filters to see details.")
else:
    titles = dict(zip(studies.index, studies["title"], strict=True))
    nct = st.selectbox("Trial", list(studies.index), format_func=lambda n: f"{n} — {titles[n]}", key="detail")
    view = trial_view(tables, nct, place=place, unit=spec.unit)
    st.text(view.title)
    st.link_button("Open on ClinicalTrials.gov", view.url)
    if view.partial:  # (issue 19: a gap in the snapshot is not a fact about the trial)
        st.info("This is a partial snapshot record: fields it lacks may be in the registry. "
                "Refresh data for the full record.")
    st.text(f"Status: {view.status} · phase {view.phase or view.gap} · ages {view.ages} · sex {view.sex} · "
            f"sponsor {view.sponsor or view.gap} · last update {view.last_update or view.gap}")
    st.subheader("Summary", anchor=False)
    st.text(view.summary or f"(summary {view.gap})")
    st.subheader("Interventions and why each category applies", anchor=False)
    st.text(view.interventions or "(no interventions listed)")
    st.dataframe(views.evidence_frame(view), hide_index=True, width="stretch")
    with st.expander("Eligibility criteria (as written in the registry)"):
        st.code(view.eligibility or f"(eligibility criteria {view.gap})", language=None, wrap_lines=True)
    st.subheader(f"Sites ({len(view.sites)}{', nearest first' if place else ''})", anchor=False)
    st.dataframe(views.sites_frame(view), hide_index=True, width="stretch")
    if view.central_contacts:
        st.text(f"Central contact: {view.central_contacts}")

# What changed since the last refresh (issue 19: the trial navigator's weekly list)
changed = what_changed(data_key(settings), spec.countries, spec.states)
where = " · sites in " + " or ".join(spec.states or spec.countries) if spec.states or spec.countries else ""
with st.expander(f"What changed since the last refresh{where}" + (f" ({len(changed[0])})" if changed else "")):
    if changed is None:
        st.text("Nothing to compare yet: the list of changes starts with the second refresh.")
    else:
        note(md(changed[1]))
        st.dataframe(changed[0], hide_index=True, width="stretch",
                     column_config={"url": st.column_config.LinkColumn("Record")})
        st.download_button("Download changes (CSV)", changed[2], file_name="changes.csv",
                           mime="text/csv", on_click="ignore")

# --- BEGIN issue 18: "About me" (private), verdicts, the trial's eligibility facts -------------
# The panel sits at the foot of the sidebar; its values, like every widget's, are in session state
# from the start of a rerun, so urlstate.spec_from_widgets (above) already turned them into
# spec.profile. They reach the link only when "include my details in the link" is ticked.
from trialfinder.classify.eligibility import MARKER_KEYS  # noqa: E402
from trialfinder.find.profile import PRIOR_KEYS  # noqa: E402
from trialfinder.labels import VERDICT_LABELS  # noqa: E402

with st.sidebar:
    with st.expander("About me (private)", expanded=spec.profile is not None):
        note("Used only to check each trial's criteria on this page. Not put in the page address "
                   "unless you tick the last box.")
        st.number_input("My age (years)", min_value=0.0, max_value=130.0, value=None, step=1.0, key="me_age",
                        format="%g", placeholder="not given")
        st.selectbox("My ECOG performance status", [None, 0, 1, 2, 3, 4], key="me_ecog",
                     format_func=lambda v: "not given" if v is None else str(v))
        st.multiselect("Treatments I have had", list(PRIOR_KEYS), key="me_prior", placeholder="not given",
                       format_func=lambda k: k.replace("_", " "))
        st.checkbox("No treatment for AML yet", key="me_untreated")
        st.number_input("Number of treatment regimens so far", min_value=0, max_value=20, value=None, step=1,
                        key="me_lines", placeholder="not given")
        st.selectbox("Allogeneic stem cell transplant", list(urlstate.TRANSPLANT_CHOICES), key="me_transplant")
        if st.session_state.get("me_transplant") == "yes":
            st.number_input("Days since the transplant", min_value=0, max_value=36_500, value=None, step=1,
                            key="me_txdays", placeholder="not given")
        st.multiselect("Markers my leukemia has", list(MARKER_KEYS), key="me_markers", placeholder="not given")
        st.checkbox("Tested: none of these markers", key="me_no_markers")
        st.checkbox("Hide trials I am likely excluded from", key="me_hide")
        st.checkbox("Include my details in the link", key="me_share")
if spec.profile is not None and "verdict" in studies:
    tally = studies["verdict"].value_counts()
    note("For your details: " + " · ".join(f"{int(tally.get(k, 0))} {label}" for k, label
                                                   in VERDICT_LABELS.items()) + " (likely excluded are listed last)")
if not studies.empty and st.session_state.get("detail") in studies.index:
    mine = trial_view(tables, st.session_state["detail"], place=place, unit=spec.unit, profile=spec.profile)
    st.subheader("Could I take part? Eligibility facts read from the criteria", anchor=False)
    if mine.verdict is not None:
        st.text(f"For your details: {mine.verdict_label}")
        st.dataframe(views.verdict_frame(mine), hide_index=True, width="stretch")
    st.dataframe(views.eligibility_frame(mine), hide_index=True, width="stretch")
# --- END issue 18 ------------------------------------------------------------------------------

# Map and charts
map_col, chart_col = st.columns([3, 2])
with map_col:
    st.header("Sites on the map", anchor=False)
    points = sitemap.site_points(tables.sites, studies.index)
    about_map = sitemap.map_summary(points, studies, place, spec.radius, spec.unit, result.distance_column)
    if not points.empty:  # outlines from package data, no map tiles: it reads the same offline
        st.pydeck_chart(sitemap.site_map(points, place, spec.radius, spec.unit), height=sitemap.MAP_HEIGHT,
                        alt=about_map)
    note(md(about_map))
with chart_col:
    if not studies.empty:
        st.header("Trials by category and phase", anchor=False)
        for title, counts_ in (("By category", views.category_counts(result)),
                               ("By phase", views.phase_counts(result))):
            st.subheader(title, anchor=False)
            st.vega_lite_chart(views.bar_spec(counts_, 220 if title == "By category" else 200), width="stretch")
            note(md(views.counts_text(counts_)))  # the chart in words

freeze_heap(data_key(settings))  # (last: see its docstring)
