"""`trialfinder search`, `show` and `categories`: the same filters as the app, from a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import InvalidInput
from .common import CONTEXT, edge, fail, make_settings, report_source, say, settings_options

if TYPE_CHECKING:  # (imported when a command runs: --help, --version and usage errors load no pandas)
    from ..find import filters as F

FORMATS = ("table", "csv", "json", "xlsx", "pdf")
SORTS = ("distance", "updated", "phase")  # find.filters.SORTS (tests/test_startup.py keeps them equal)


def _load(api_url: str | None, cache_dir: Path | None):  # type: ignore[no-untyped-def]
    from ..find.tablecache import load_tables

    tables = load_tables(make_settings(api_url, cache_dir))
    report_source(tables.meta)
    return tables


def spec_from_options(o: dict[str, Any]) -> F.FilterSpec:
    """CLI option values -> FilterSpec, resolved once here: keys, numbers, dates and the geocoded place
    (raises InvalidInput with what is accepted; a bad place fails before the data loads)."""
    sort = _choice("sort", o.get("sort"), SORTS)  # (checked first: a typo here loads no pandas)
    from ..find import filters as F
    from ..find.places import default_unit, parse_unit

    if o.get("radius") is not None and not o.get("near"):
        raise InvalidInput("--radius needs --near ZIP_OR_CITY")
    if (o.get("sort") or "").strip().lower() == "distance" and not o.get("near"):
        raise InvalidInput("--sort distance needs --near ZIP_OR_CITY")
    spec = F.FilterSpec(
        radius=F.parse_radius(o["radius"]) if o.get("radius") is not None else None,
        unit=parse_unit("km" if o.get("km") else o.get("unit") or "mi"),  # (no unit asked for: see below)
        categories=tuple(dict.fromkeys(F.parse_category(c) for c in o.get("category") or ())),
        disease_settings=F.parse_disease_settings(o.get("setting") or (), default=F.DEFAULT.disease_settings),
        phases=tuple(dict.fromkeys(p for v in o.get("phase") or () for p in F.parse_phase(v))),
        statuses=F.parse_statuses(o.get("status") or (), default=F.DEFAULT.statuses),
        age=F.parse_age(o["age"]) if o.get("age") is not None else None,
        sex=F.parse_sex(o["sex"]) if o.get("sex") else None,
        biomarkers=tuple(dict.fromkeys(F.parse_biomarker(b) for b in o.get("biomarker") or ())),
        countries=tuple(dict.fromkeys(F.parse_country(c) for c in o.get("country") or ())),
        states=tuple(dict.fromkeys(F.parse_state(s) for s in o.get("state") or ())),
        text=F.parse_text(o["text"]) or None if o.get("text") else None,
        updated_since=F.parse_date(o["updated_since"]) if o.get("updated_since") else None,
        sort=sort,
    )
    if o.get("near"):
        place = F.parse_place(o["near"])
        spec = spec.with_(place=place)
        if not o.get("km") and not o.get("unit"):  # the local custom: km in Paris, miles in Tucson
            spec = spec.with_(unit=default_unit(place))
    profile = profile_from_options(o)
    if o.get("hide_excluded") and profile is None:
        raise InvalidInput("--hide-excluded needs your details: --ecog, --prior, --prior-transplant, --marker, …")
    return spec.with_(profile=profile, hide_excluded=bool(o.get("hide_excluded")))


def profile_from_options(o: dict[str, Any]) -> Any:
    """The patient's own details (--ecog, --prior, --prior-lines, --prior-transplant, --transplant-days,
    --marker) -> a Profile, or None when none is given. --age, the filter, is also her age."""
    from ..find import filters as F
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
                     help="only trials with a located site within N miles (or km); trials none of whose sites "
                          "could be located are counted apart"),
        click.option("--km", is_flag=True, help="distances in kilometres"),
        click.option("--unit", metavar="mi|km",
                     help="distance unit [default: the place's custom: miles in the US and UK, km elsewhere]"),
        click.option("--category", multiple=True, metavar="KEY",
                     help="treatment category (repeatable): targeted, immunotherapy, transplant, experimental, "
                          "chemotherapy, supportive, other"),
        click.option("--setting", multiple=True, metavar="KEY",
                     help="disease setting (repeatable, or 'all'): relapsed_refractory, newly_diagnosed, "
                          "post_transplant; trials whose setting is not stated are always kept, labelled "
                          "[default: relapsed_refractory]"),
        click.option("--phase", multiple=True, metavar="P",
                     help="phase (repeatable): early1, 1, 2, 3, 4, na, or a combined phase 1/2, 2/3; "
                          "'1' includes phase 1/2 trials, '1/2' means only the combined phase 1/2"),
        click.option("--status", multiple=True, metavar="STATUS",
                     help="overall status (repeatable, or 'all' for every status) "
                          "[default: recruiting, not_yet_recruiting, enrolling_by_invitation]"),
        click.option("--age", type=str, metavar="YEARS", help="keep trials whose age limits admit this age"),
        click.option("--sex", metavar="SEX", help="female or male"),
        click.option("--biomarker", multiple=True, metavar="NAME", help="FLT3, IDH1, IDH2, NPM1, KMT2A, TP53, CD33, …"),
        click.option("--country", multiple=True, metavar="NAME", help="a country with a site, e.g. 'United States'"),
        click.option("--state", multiple=True, metavar="NAME", help="a US state (AZ or Arizona) or region with a site"),
        click.option("--text", metavar="TEXT",
                     help="words in the title, interventions, drug classes, conditions, sponsor or NCT id; "
                          "a comma means or: 'menin, FLT3'"),
        click.option("--updated-since", metavar="DATE", help="last updated on or after DATE (YYYY-MM-DD)"),
        click.option("--sort", metavar="|".join(SORTS), help="distance (default with --near), updated, phase"),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@click.command(context_settings=CONTEXT)
@settings_options
@filter_options
@profile_options
@click.option("--format", "fmt", metavar="|".join(FORMATS), default="table", show_default=True,
              help="table (terminal), csv, json, xlsx or pdf (a list to hand the doctor); xlsx and pdf need --output")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to FILE instead of stdout")
@click.option("--labels", is_flag=True,
              help="csv/xlsx/json: readable labels ('Recruiting', 'Phase 1/2') instead of the registry's codes")
@edge
def search(api_url: str | None, cache_dir: Path | None, fmt: str, output: Path | None, labels: bool,
           **options: Any) -> None:
    """Search the current data set with filters; print a table or write CSV, JSON or Excel.

    \b
    Defaults (the same as the app's): trials a patient can enrol in (recruiting, not yet
    recruiting, enrolling by invitation) in the relapsed/refractory setting; trials whose
    setting is not stated are kept and labelled. --status all and --setting all lift them:
    `trialfinder search --status all --setting all` lists every study of the data set.

    Example: trialfinder search --near 85719 --radius 250 --age 58
    """
    from ..source.files import write_private

    fmt = _choice("format", fmt, FORMATS) or "table"
    if fmt in ("xlsx", "pdf") and output is None:
        raise InvalidInput(f"--format {fmt} needs --output FILE.{fmt}")
    spec = spec_from_options(options)
    from ..find import export
    from ..find import filters as F

    tables = _load(api_url, cache_dir)
    result = F.search(tables, spec)
    say(f"{len(result.studies)} trials · {result.describe()}", err=True)
    if result.undated:
        say(f"note: {result.undated} trials have no update date in their record, so 'updated since' "
            "leaves them out", err=True)
    if result.unlocated and result.unlocated_studies is not None:
        say(f"note: {result.unlocated} more trials have no site we could locate, so they are not counted "
            f"as within the radius: {', '.join(result.unlocated_studies.index[:20])}"
            f"{' …' if result.unlocated > 20 else ''}", err=True)
    elif result.unlocated:
        say(f"note: {result.unlocated} trials have no site we could locate; they are listed last", err=True)
    if fmt == "pdf":  # (issue 19: a list to hand the doctor)
        from ..present.pdf import to_pdf

        assert output is not None
        write_private(output, to_pdf(result, tables))  # (the search may say where a patient lives)
        say(f"wrote {output}", err=True)
        return
    if fmt == "xlsx":
        assert output is not None
        write_private(output, export.to_xlsx(result, tables.meta, labels))
        say(f"wrote {output}", err=True)
        return
    if fmt == "table":
        text = render_table(result)
    elif fmt == "csv":
        text = export.to_csv(result, labels)
    else:
        text = export.to_json(result, tables.meta, labels) + "\n"
    if output is not None:
        write_private(output, text.encode("utf-8"))
        say(f"wrote {output}", err=True)
    else:
        say(text, nl=False)


def render_table(result: F.SearchResult) -> str:
    """The terminal table. Every cell is a Rich ``Text`` of sanitised text: registry text is never read
    as Rich markup ("[bold]", "[link=…]", a stray "[/x]") and carries no control characters."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..labels import (
        AGES_NOT_STATED,
        CATEGORY_SHORT_LABELS,
        VERDICT_LABELS,
        age_range,
        distance_label,
        enrolment_label,
        setting_short,
    )
    from ..sanitize import one_line

    table = Table(show_lines=False, header_style="bold", box=None, pad_edge=False)
    table.add_column("NCT id", no_wrap=True, min_width=11)
    table.add_column("Title", max_width=44, no_wrap=True, overflow="ellipsis")
    table.add_column("Status", no_wrap=True, min_width=10)
    table.add_column("Phase", no_wrap=True)
    table.add_column("Categories", max_width=28, no_wrap=True, overflow="ellipsis")
    table.add_column("Setting", max_width=20, no_wrap=True, overflow="ellipsis")
    near = result.place is not None
    if near:
        table.add_column("Nearest site", max_width=36, no_wrap=True, overflow="ellipsis")
        table.add_column(result.spec.unit, justify="right", no_wrap=True, min_width=5)
    if result.spec.age is not None:
        table.add_column("Ages", no_wrap=True)
    table.add_column("Updated", no_wrap=True)
    verdicts = "verdict" in result.studies
    if verdicts:
        table.add_column("For you", no_wrap=True)
    for _, row in result.studies.iterrows():
        cells = [
            row["nct_id"], row["title"], enrolment_label(row["status"]) or row["status"],
            row["phase"] or ("not in snapshot" if row.get("partial_record") else "not stated"),
            ", ".join(CATEGORY_SHORT_LABELS.get(c, c) for c in row["categories"]),
            setting_short(row["disease_setting"]),
        ]
        if near:
            dist = row.get(result.distance_column)
            site = row.get("nearest_site")
            mark = "" if row.get("nearest_is_open") else "* " if row.get("nearest_site_status") else "? "
            site = "not located" if not isinstance(site, str) else mark + site
            cells += [site, distance_label(dist, result.spec.unit, spaced=False, unit_shown=False, missing="")]
        if result.spec.age is not None:
            stated = row["min_age_years"] == row["min_age_years"] or row["max_age_years"] == row["max_age_years"]
            cells.append(age_range(row["min_age_years"], row["max_age_years"]) if stated else AGES_NOT_STATED)
        cells.append(row["last_update"] or ("not in snapshot" if row.get("partial_record") else "not stated"))
        if verdicts:
            cells.append(VERDICT_LABELS.get(row["verdict"], ""))
        table.add_row(*[Text(one_line(c)) for c in cells])
    if near:
        table.caption = ("* the nearest site's own status is not recruiting (the trial has no recruiting site)  "
                         "? the record gives no site status: unknown, ask the trial")
    console = Console(file=None, width=230, force_terminal=False, no_color=True, record=True)
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
    from ..source.normalize import NCT_RE

    key = nct_id.strip().upper()
    if not NCT_RE.match(key):  # (ASCII digits only: "NCT٠٤٠٦٧٣٣٦" is not an NCT number)
        raise InvalidInput(f"{nct_id!r} is not an NCT number; use the form NCT01234567")
    from ..find.filters import parse_place
    from ..present.trial import render_text, trial_view

    place = parse_place(near) if near else None
    profile = profile_from_options(details)
    tables = _load(api_url, cache_dir)
    if key not in tables.studies.index:
        fail(f"error: {key} is not in the current data set; `trialfinder fetch --status all` widens it, "
             f"or see https://clinicaltrials.gov/study/{key}", 1)
    say(render_text(trial_view(tables, key, place=place, unit="km" if km else "mi", profile=profile)))


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

