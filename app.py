"""TrialFinder: a thin Streamlit page over the trialfinder library.

widgets -> FilterSpec (trialfinder.appstate) -> filters.search -> render. The filter state is
mirrored into the URL (st.query_params) so a search can be bookmarked or sent to a doctor.
Registry text is untrusted: it is shown only through st.text, st.code and st.dataframe, never
through markdown or HTML.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="TrialFinder · R/R AML trials", page_icon="🔎", layout="wide")

import datetime as dt  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from trialfinder import appstate, export, geo  # noqa: E402
from trialfinder.biomarkers import BIOMARKER_KEYS  # noqa: E402
from trialfinder.categories import CATEGORY_DESCRIPTIONS, CATEGORY_KEYS, CATEGORY_LABELS  # noqa: E402
from trialfinder.config import Settings  # noqa: E402
from trialfinder.dataset import refresh_dataset  # noqa: E402
from trialfinder.errors import TrialFinderError  # noqa: E402
from trialfinder.filters import SETTING_LABELS, search  # noqa: E402
from trialfinder.setting import SETTING_KEYS  # noqa: E402
from trialfinder.tablecache import load_tables  # noqa: E402
from trialfinder.tables import Tables  # noqa: E402
from trialfinder.vocab import PHASE_LABELS, SEX_LABELS, STATUS_LABELS  # noqa: E402

md = appstate.escape_markdown  # for our messages that quote user or data text


# --- cached library calls ---------------------------------------------------------------------

def data_key(settings: Settings) -> tuple[str, str, int | None]:
    """Changes whenever the stored data set is replaced (its file's mtime), so the cache follows."""
    current = settings.dataset_dir / "current.json"
    try:
        mtime: int | None = current.stat().st_mtime_ns
    except OSError:
        mtime = None
    return str(settings.cache_dir), str(settings.snapshot_dir), mtime


@st.cache_resource(show_spinner="Loading trials…", max_entries=4)
def get_tables(key: tuple[str, str, int | None]) -> Tables:
    cache_dir, snapshot_dir, _ = key
    settings = Settings.from_env(cache_dir=Path(cache_dir), snapshot_dir=Path(snapshot_dir))
    return load_tables(settings)


@st.cache_data(show_spinner=False, max_entries=256)
def locate(text: str) -> geo.Place:
    return geo.geocode(text)


@st.cache_data(show_spinner=False, max_entries=8)
def choices(key: tuple[str, str, int | None]) -> dict[str, list[str]]:
    sites = get_tables(key).sites
    return {col: sorted({v for v in sites[col].dropna() if v}) for col in ("country", "state")}


def fail(message: str) -> None:
    st.error(message)
    st.stop()


# --- state: URL -> widgets (first run), widgets -> URL (every run) ----------------------------

def seed_widgets_from_url() -> None:
    if "seeded" in st.session_state:
        return
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    spec, problems = appstate.spec_from_params(params)
    for key, value in appstate.widget_values(spec).items():
        st.session_state[key] = value
    st.session_state.url_problems = problems
    st.session_state.seeded = True


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
    get_tables.clear()
    choices.clear()
    st.success(f"Data refreshed: {md(dataset.meta.describe())} · {len(dataset.studies)} studies.")


# --- the page ---------------------------------------------------------------------------------

try:
    settings = Settings.from_env()
except TrialFinderError as exc:
    fail(f"Configuration problem: {md(exc)}")
seed_widgets_from_url()

st.title("TrialFinder")
st.caption("Clinical trials for relapsed or refractory acute myeloid leukemia (AML), from ClinicalTrials.gov")
banner, button = st.columns([5, 1], vertical_alignment="center")
if button.button("Refresh data", help="Download the current trials from ClinicalTrials.gov"):
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
st.warning(export.DISCLAIMER, icon=":material/medical_information:")
for problem in st.session_state.pop("url_problems", []):  # shown once, on arrival
    st.warning(f"From the link: {md(problem)}")

# Where
where, radius_col, unit_col = st.columns([3, 1.2, 1])
where.text_input("Where do you live? (US ZIP code or city)", key="near", placeholder="e.g. 85719 or Tucson, AZ")
radius_col.selectbox(
    "Within", appstate.radius_options(st.session_state.get("radius")), key="radius",
    format_func=appstate.radius_label,
)
unit_col.radio("Unit", list(geo.UNITS), key="unit", format_func=geo.UNITS.get, horizontal=True)
where_note = st.container()

# Filters, each followed by a slot for the number of trials it leaves
with st.sidebar:
    st.header("Filters")
    st.caption("They apply top to bottom; under each, the number of trials left after it.")
    counts: dict[str, Any] = {"distance": radius_col.empty()}
    st.multiselect("Overall status", list(STATUS_LABELS), key="statuses", format_func=STATUS_LABELS.get,
                   placeholder="any status")
    counts["status"] = st.empty()
    st.multiselect("Disease setting", list(SETTING_KEYS), key="settings",
                   format_func=lambda k: SETTING_LABELS.get(k, k), placeholder="any setting")
    counts["setting"] = st.empty()
    st.multiselect("Treatment category", [*CATEGORY_KEYS, "other"], key="categories",
                   format_func=lambda k: CATEGORY_LABELS.get(k, k), placeholder="any category",
                   help="\n\n".join(f"**{CATEGORY_LABELS[k]}**: {d}" for k, d in CATEGORY_DESCRIPTIONS.items()))
    counts["category"] = st.empty()
    st.multiselect("Phase", list(PHASE_LABELS), key="phases", format_func=PHASE_LABELS.get,
                   placeholder="any phase")
    counts["phase"] = st.empty()
    st.number_input("Patient age (years)", min_value=0.0, max_value=130.0, value=None, step=1.0, key="age",
                    format="%g", placeholder="any age")
    counts["age"] = st.empty()
    st.selectbox("Sex", list(SEX_LABELS), key="sex", format_func=SEX_LABELS.get)
    counts["sex"] = st.empty()
    st.multiselect("Biomarker", list(BIOMARKER_KEYS), key="biomarkers", placeholder="any biomarker")
    counts["biomarker"] = st.empty()
    options = choices(data_key(settings))
    st.multiselect("Country", sorted({*options["country"], *st.session_state.get("countries", [])}),
                   key="countries", placeholder="any country")
    counts["country"] = st.empty()
    st.multiselect("State / region", sorted({*options["state"], *st.session_state.get("states", [])}),
                   key="states", placeholder="any state")
    counts["state"] = st.empty()
    st.text_input("Search titles, drugs, drug classes, sponsor", key="text", placeholder="e.g. menin, FLT3 (a comma means or)")
    counts["text"] = st.empty()
    st.date_input("Last updated since", value=None, key="updated_since", min_value=dt.date(1999, 1, 1),
                  max_value=dt.date.today(), format="YYYY-MM-DD")
    counts["updated"] = st.empty()

spec, problems = appstate.spec_from_widgets({key: st.session_state.get(key) for key in appstate.WIDGETS})
for problem in problems:
    st.warning(md(problem))
params = appstate.spec_to_params(spec)
if not appstate.same_params(params, {key: st.query_params.get_all(key) for key in st.query_params}):
    st.query_params.from_dict(params)

place = None
if spec.near:
    try:
        place = locate(spec.near)
        where_note.caption(f"Distances are measured from {md(place.label)} (approximate, straight line).")
    except geo.AmbiguousPlace as exc:
        where_note.warning(f"{md(exc)}. Pick one:")
        cols = where_note.columns(min(len(exc.candidates), 4))
        for i, candidate in enumerate(exc.candidates):
            label = candidate.label.removesuffix(", United States")
            cols[i % len(cols)].button(md(label), key=f"place-{i}", on_click=pick_place, args=(label,))
    except TrialFinderError as exc:
        where_note.warning(f"{md(exc)}. Showing trials without distances.")
try:
    result = search(tables, spec.with_(near=None), place=place)
except TrialFinderError as exc:
    fail(md(exc))
for name, count in appstate.counts_by_filter(result).items():
    if name in counts:
        counts[name].caption(f"→ {count} trials left")

# Results
studies = result.studies
st.subheader(f"{len(studies)} trial{'s' if len(studies) != 1 else ''} found")
st.caption(md(result.describe()))
if result.unlocated:
    st.caption(f"{result.unlocated} of them have no site we could locate; they are listed last, without a distance.")
sort_col, csv_col, xlsx_col = st.columns([2, 1, 1], vertical_alignment="bottom")
sort_col.selectbox("Sort by", list(appstate.SORT_LABELS), key="sort", format_func=appstate.SORT_LABELS.get)
csv_col.download_button("Download CSV", export.to_csv(result), file_name="trialfinder.csv", mime="text/csv",
                        on_click="ignore", width="stretch")
xlsx_col.download_button("Download Excel", lambda: export.to_xlsx(result, meta), file_name="trialfinder.xlsx",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         on_click="ignore", width="stretch")
unit = geo.UNITS.get(spec.unit, spec.unit)
st.dataframe(
    appstate.results_frame(result),
    hide_index=True,
    width="stretch",
    column_config={
        "url": st.column_config.LinkColumn("Trial", display_text=r"https://clinicaltrials\.gov/study/(NCT\d+)",
                                           help="Opens the ClinicalTrials.gov record"),
        "title": st.column_config.TextColumn("Title", width="medium"),
        "categories": st.column_config.TextColumn("Categories", width="medium"),
        "phase": st.column_config.TextColumn("Phase"),
        "status": st.column_config.TextColumn("Status"),
        "nearest_site": st.column_config.TextColumn("Nearest site", width="medium"),
        "site_status": st.column_config.TextColumn("Nearest site status"),
        "distance": st.column_config.TextColumn(
            "Distance", width="small", help=f"Approximate straight-line distance in {unit} to the nearest site"),
        "last_update": st.column_config.DateColumn("Last update", format="YYYY-MM-DD"),
    },
)
st.caption("Your search is in the page address: bookmark it or send it to your doctor.")

# Detail of one trial (registry text only through st.text / st.code / st.dataframe)
st.subheader("Trial detail")
if studies.empty:
    st.text("No trial matches; widen the filters to see details.")
else:
    titles = dict(zip(studies.index, studies["title"], strict=True))
    nct = st.selectbox("Trial", list(studies.index), format_func=lambda n: f"{n} — {titles[n]}", key="detail")
    row = tables.studies.loc[nct]
    st.text(row["title"])
    st.link_button("Open on ClinicalTrials.gov", row["url"])
    ages = appstate.age_range(row["min_age_years"], row["max_age_years"])
    st.text(f"Status: {appstate.status_label(row['status'])} · {row['phase'] or 'phase not given'} · "
            f"ages {ages} · sex {SEX_LABELS.get(row['sex'], row['sex']).lower()} · sponsor {row['sponsor'] or '—'}"
            f" · last update {row['last_update'] or 'not given'}")
    st.markdown("**Summary**")
    st.text(row["brief_summary"] or "(no summary in the registry record)")
    st.markdown("**Interventions and why each category applies**")
    st.text(row["interventions"] or "(no interventions listed)")
    st.dataframe(appstate.evidence_frame(row.to_dict()), hide_index=True, width="stretch")
    with st.expander("Eligibility criteria (as written in the registry)"):
        st.code(row["eligibility"] or "(not given in the registry record)", language=None, wrap_lines=True)
    sites = tables.sites[tables.sites["nct_id"] == nct]
    st.markdown(f"**Sites** ({len(sites)}{', nearest first' if place else ''})")
    st.dataframe(appstate.sites_frame(sites, place, spec.unit), hide_index=True, width="stretch")
    if row["central_contacts"]:
        st.text(f"Central contact: {row['central_contacts']}")

# Map and charts
map_col, chart_col = st.columns([3, 2])
with map_col:
    st.subheader("Sites on the map")
    points = appstate.map_points(tables.sites, studies.index, place)
    if points.empty:
        st.text("No located sites to show.")
    else:
        st.map(points, latitude="latitude", longitude="longitude", color="color", size="size", height=420)
        st.caption("Blue: sites of the trials found" + (" · red: your location" if place else ""))
with chart_col:
    if not studies.empty:
        st.subheader("By category")
        st.bar_chart(appstate.category_counts(result), horizontal=True, height=220)
        st.subheader("By phase")
        st.bar_chart(appstate.phase_counts(result), horizontal=True, height=200)
