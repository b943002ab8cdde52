"""`trialfinder search`, `show` and `categories`: the same filters as the app, from a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import InvalidInput
from ..find import filters as F
from .common import CONTEXT, edge, fail, make_settings, report_source, settings_options

FORMATS = ("table", "csv", "json", "xlsx")


def _load(api_url: str | None, cache_dir: Path | None):  # type: ignore[no-untyped-def]
    from ..find.tablecache import load_tables

    tables = load_tables(make_settings(api_url, cache_dir))
    report_source(tables.meta)
    return tables


def spec_from_options(o: dict[str, Any]) -> F.FilterSpec:
    """CLI option values -> FilterSpec, resolved once here: keys, numbers, dates and the geocoded place
    (raises InvalidInput with what is accepted; a bad place fails before the data loads)."""
    from ..find.places import parse_unit

    if o.get("radius") is not None and not o.get("near"):
        raise InvalidInput("--radius needs --near ZIP_OR_CITY")
    if (o.get("sort") or "").strip().lower() == "distance" and not o.get("near"):
        raise InvalidInput("--sort distance needs --near ZIP_OR_CITY")
    spec = F.FilterSpec(
        radius=F.parse_radius(o["radius"]) if o.get("radius") is not None else None,
        unit=parse_unit("km" if o.get("km") else o.get("unit") or "mi"),
        categories=tuple(dict.fromkeys(F.parse_category(c) for c in o.get("category") or ())),
        disease_settings=tuple(dict.fromkeys(F.parse_disease_setting(s) for s in o.get("setting") or ())),
        phases=tuple(dict.fromkeys(p for v in o.get("phase") or () for p in F.parse_phase(v))),
        statuses=F.parse_statuses(o.get("status") or ()),
        age=F.parse_age(o["age"]) if o.get("age") is not None else None,
        sex=F.parse_sex(o["sex"]) if o.get("sex") else None,
        biomarkers=tuple(dict.fromkeys(F.parse_biomarker(b) for b in o.get("biomarker") or ())),
        countries=tuple(dict.fromkeys(F.parse_country(c) for c in o.get("country") or ())),
        states=tuple(dict.fromkeys(F.parse_state(s) for s in o.get("state") or ())),
        text=F.parse_text(o["text"]) or None if o.get("text") else None,
        updated_since=F.parse_date(o["updated_since"]) if o.get("updated_since") else None,
        sort=_choice("sort", o.get("sort"), F.SORTS),
    )
    if o.get("near"):
        spec = spec.with_(place=F.parse_place(o["near"]))
    profile = profile_from_options(o)
    if o.get("hide_excluded") and profile is None:
        raise InvalidInput("--hide-excluded needs your details: --ecog, --prior, --prior-transplant, --marker, …")
    return spec.with_(profile=profile, hide_excluded=bool(o.get("hide_excluded")))


def profile_from_options(o: dict[str, Any]) -> Any:
    """The patient's own details (--ecog, --prior, --prior-lines, --prior-transplant, --transplant-days,
    --marker) -> a Profile, or None when none is given. --age, the filter, is also her age."""
    from ..find import profile as P

    given = {k: o.get(k) for k in ("ecog", "prior", "prior_lines", "prior_transplant", "transplant_days", "marker")}
    if all(v is None or v == () for v in given.values()):
        return None
    if given["transplant_days"] is not None and given["prior_transplant"] is False:
        raise InvalidInput("--transplant-days contradicts --no-prior-transplant; give one of them")
    return P.Profile(
        age=F.parse_age(o["age"]) if o.get("age") is not None else None,
        ecog=P.parse_ecog(given["ecog"]) if given["ecog"] is not None else None,
        prior=P.parse_prior(given["prior"]) if given["prior"] is not None else None,
        prior_lines=P.parse_lines(given["prior_lines"]) if given["prior_lines"] is not None else None,
        prior_transplant=True if given["transplant_days"] is not None else given["prior_transplant"],
        transplant_days=P.parse_days(given["transplant_days"]) if given["transplant_days"] is not None else None,
        markers=P.parse_markers(list(given["marker"])) if given["marker"] else None,
    )


def profile_options(func: Any) -> Any:
    """Options for the patient's own details (private: they only shape the verdicts printed)."""
    opts = [
        click.option("--ecog", metavar="0-4", help="your ECOG performance status (0 fully active … 4)"),
        click.option("--prior", metavar="LIST",
                     help="treatments you have had, comma-separated: venetoclax, hma, intensive_chemotherapy, "
                          "flt3_inhibitor, idh1_inhibitor, idh2_inhibitor, menin_inhibitor, cd33_antibody, "
                          "checkpoint_inhibitor, car_t; or none"),
        click.option("--prior-lines", metavar="N", help="how many treatment regimens you have had"),
        click.option("--prior-transplant/--no-prior-transplant", default=None,
                     help="whether you have had an allogeneic stem cell transplant"),
        click.option("--transplant-days", metavar="DAYS", help="days since your allogeneic transplant"),
        click.option("--marker", multiple=True, metavar="NAME",
                     help="markers your leukaemia has (repeatable or comma-separated): FLT3, IDH1, IDH2, NPM1, "
                          "KMT2A, TP53, …; or none"),
        click.option("--hide-excluded", is_flag=True, help="leave out trials you are likely excluded from"),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    key = value.strip().lower()
    if key not in allowed:
        raise InvalidInput(f"unknown --{name} {value!r}; use one of: {', '.join(allowed)}")
    return key


def filter_options(func: Any) -> Any:
    opts = [
        click.option("--near", metavar="ZIP_OR_CITY", help="a US ZIP code or a city ('Tucson, AZ', 'Paris, France')"),
        click.option("--radius", type=str, metavar="N",
                     help="only trials with a site within N miles (or km with --km)"),
        click.option("--km", is_flag=True, help="distances in kilometres instead of miles"),
        click.option("--category", multiple=True, metavar="KEY",
                     help="treatment category (repeatable): targeted, immunotherapy, transplant, experimental, "
                          "chemotherapy, supportive, other"),
        click.option("--setting", multiple=True, metavar="KEY",
                     help="disease setting (repeatable): relapsed_refractory, newly_diagnosed, post_transplant"),
        click.option("--phase", multiple=True, metavar="P", help="phase (repeatable): early1, 1, 2, 3, 4, 1/2, na"),
        click.option("--status", multiple=True, metavar="STATUS",
                     help="overall status (repeatable, or 'all'); default: every status in the data set"),
        click.option("--age", type=str, metavar="YEARS", help="keep trials whose age limits admit this age"),
        click.option("--sex", metavar="SEX", help="female or male"),
        click.option("--biomarker", multiple=True, metavar="NAME", help="FLT3, IDH1, IDH2, NPM1, KMT2A, TP53, CD33, …"),
        click.option("--country", multiple=True, metavar="NAME", help="a country with a site, e.g. 'United States'"),
        click.option("--state", multiple=True, metavar="NAME", help="a US state (AZ or Arizona) or region with a site"),
        click.option("--text", metavar="TEXT",
                     help="words in the title, interventions, drug classes, conditions, sponsor or NCT id; "
                          "a comma means or: 'menin, FLT3'"),
        click.option("--updated-since", metavar="DATE", help="last updated on or after DATE (YYYY-MM-DD)"),
        click.option("--sort", metavar="|".join(F.SORTS), help="distance (default with --near), updated, phase"),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@click.command(context_settings=CONTEXT)
@settings_options
@filter_options
@profile_options
@click.option("--format", "fmt", metavar="|".join(FORMATS), default="table", show_default=True,
              help="table (terminal), csv, json, or xlsx (needs --output)")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to FILE instead of stdout")
@edge
def search(api_url: str | None, cache_dir: Path | None, fmt: str, output: Path | None, **options: Any) -> None:
    """Search the current data set with filters; print a table or write CSV, JSON or Excel.

    Example: trialfinder search --near 85719 --radius 250 --status recruiting --age 58
    """
    from ..find import export

    fmt = _choice("format", fmt, FORMATS) or "table"
    spec = spec_from_options(options)
    if fmt == "xlsx" and output is None:
        raise InvalidInput("--format xlsx needs --output FILE.xlsx")
    tables = _load(api_url, cache_dir)
    result = F.search(tables, spec)
    click.echo(f"{len(result.studies)} trials · {result.describe()}", err=True)
    if result.unlocated:
        click.echo(f"note: {result.unlocated} trials have no site we could locate; they are listed last", err=True)
    if fmt == "xlsx":
        assert output is not None
        output.write_bytes(export.to_xlsx(result, tables.meta))
        click.echo(f"wrote {output}", err=True)
        return
    if fmt == "table":
        text = render_table(result)
    elif fmt == "csv":
        text = export.to_csv(result)
    else:
        text = export.to_json(result, tables.meta) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def render_table(result: F.SearchResult) -> str:
    from rich.console import Console
    from rich.table import Table

    from ..labels import CATEGORY_SHORT_LABELS, VERDICT_LABELS, distance_label, status_label

    table = Table(show_lines=False, header_style="bold", box=None, pad_edge=False)
    table.add_column("NCT id", no_wrap=True)
    table.add_column("Title", max_width=44, no_wrap=True, overflow="ellipsis")
    table.add_column("Status", no_wrap=True)
    table.add_column("Phase", no_wrap=True)
    table.add_column("Categories", max_width=28, no_wrap=True, overflow="ellipsis")
    near = result.place is not None
    if near:
        table.add_column("Nearest site", max_width=36, no_wrap=True, overflow="ellipsis")
        table.add_column(result.spec.unit, justify="right", no_wrap=True)
    table.add_column("Updated", no_wrap=True)
    verdicts = "verdict" in result.studies
    if verdicts:
        table.add_column("For you", no_wrap=True)
    for _, row in result.studies.iterrows():
        cells = [
            row["nct_id"], row["title"], status_label(row["status"]) or row["status"], row["phase"] or "—",
            ", ".join(CATEGORY_SHORT_LABELS.get(c, c) for c in row["categories"]),
        ]
        if near:
            dist = row.get(result.distance_column)
            site = row.get("nearest_site")
            site = "not located" if not isinstance(site, str) else ("" if row.get("nearest_is_open") else "* ") + site
            cells += [site, distance_label(dist, result.spec.unit, spaced=False, unit_shown=False, missing="")]
        cells.append(row["last_update"] or "—")
        if verdicts:
            cells.append(VERDICT_LABELS.get(row["verdict"], ""))
        table.add_row(*[str(c) for c in cells])
    if near:
        table.caption = "* nearest site not listed as recruiting (the trial has no site listed as recruiting)"
    console = Console(file=None, width=200, force_terminal=False, no_color=True, record=True)
    with console.capture() as capture:
        console.print(table)
    return capture.get()


@click.command(context_settings=CONTEXT)
@settings_options
@click.argument("nct_id")
@click.option("--near", metavar="ZIP_OR_CITY", help="sort the sites by distance from here")
@click.option("--km", is_flag=True, help="distances in kilometres")
@click.option("--age", type=str, metavar="YEARS", help="your age, for the verdict")
@profile_options
@edge
def show(api_url: str | None, cache_dir: Path | None, nct_id: str, near: str | None, km: bool,
         **details: Any) -> None:
    """Show one trial in full: summary, categories with evidence, eligibility facts with their
    sentences (and a verdict for your details, if given), sites, link."""
    from ..present.trial import render_text, trial_view
    from ..source.normalize import NCT_RE

    key = nct_id.strip().upper()
    if not NCT_RE.match(key):
        raise InvalidInput(f"{nct_id!r} is not an NCT number; use the form NCT01234567")
    place = F.parse_place(near) if near else None
    profile = profile_from_options(details)
    tables = _load(api_url, cache_dir)
    if key not in tables.studies.index:
        fail(f"error: {key} is not in the current data set; `trialfinder fetch --status all` widens it, "
             f"or see https://clinicaltrials.gov/study/{key}", 1)
    click.echo(render_text(trial_view(tables, key, place=place, unit="km" if km else "mi", profile=profile)))


@click.command(context_settings=CONTEXT)
@settings_options
@edge
def categories(api_url: str | None, cache_dir: Path | None) -> None:
    """The treatment categories, what each means, and how many trials each has now."""
    from ..classify.categories import CATEGORY_KEYS
    from ..labels import CATEGORY_DESCRIPTIONS, CATEGORY_LABELS

    tables = _load(api_url, cache_dir)
    counts = tables.studies["categories"].explode().value_counts()
    for key in (*CATEGORY_KEYS, "other"):
        count = int(counts.get(key, 0))
        click.echo(f"{key:<14} {count:>5}  {CATEGORY_LABELS[key]} — {CATEGORY_DESCRIPTIONS[key]}")
    click.echo(f"{'(all)':<14} {len(tables.studies):>5}  trials in the data set (a trial can have several categories)")

