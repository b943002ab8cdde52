"""`trialfinder changes`: what changed between the previous data set and the current one."""

from __future__ import annotations

from pathlib import Path

import click

from .common import CONTEXT, edge, make_settings, say, settings_options

FORMATS = ("table", "csv")


@click.command(context_settings=CONTEXT)
@settings_options
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False), default="table",
              show_default=True, help="table (terminal) or csv")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write to FILE instead of stdout")
@click.option("--country", multiple=True, metavar="NAME",
              help="only sites in this country (repeatable), e.g. 'United States'; as in `search`")
@click.option("--state", multiple=True, metavar="NAME",
              help="only sites in this US state (TX or Texas) or region (repeatable); as in `search`")
@edge
def changes(api_url: str | None, cache_dir: Path | None, fmt: str, output: Path | None, country: tuple[str, ...],
            state: tuple[str, ...]) -> None:
    """What changed since the last refresh: new trials, trials whose overall status changed, and
    sites that opened, closed or started recruiting, each with its value before and after.

    The data set before the last `trialfinder fetch` is kept for this; the list exists from the
    second refresh on. With --country/--state, only the changes of sites there, and of trials with a
    site there (a navigator's region).
    """
    from ..find.changes import Region, changes_since_last_refresh, to_csv
    from ..find.filters import parse_country, parse_state

    region = Region(tuple(dict.fromkeys(map(parse_country, country))), tuple(dict.fromkeys(map(parse_state, state))))
    found = changes_since_last_refresh(make_settings(api_url, cache_dir), region)
    counts = found.counts()
    say(f"{len(found.table)} changes · {found.describe()}", err=True)
    if counts:
        say(" · ".join(f"{n} {kind}" for kind, n in counts.items()), err=True)
    text = to_csv(found) if fmt.lower() == "csv" else _table(found.table)
    if output is not None:
        from ..source.files import write_private

        write_private(output, text.encode("utf-8"))
        say(f"wrote {output}", err=True)
    else:
        say(text, nl=False)  # (through the sanitiser: titles and sites are registry text)


def _table(table) -> str:  # type: ignore[no-untyped-def]
    """Rich ``Text`` cells of sanitised text: registry text is never read as markup (issue 15)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..sanitize import one_line

    out = Table(box=None, header_style="bold", pad_edge=False)
    for name, width in (("Change", 24), ("NCT id", 11), ("Title", 40), ("Site", 40), ("Before", 22), ("After", 22)):
        out.add_column(name, no_wrap=True, overflow="ellipsis", max_width=width, min_width=min(width, 11))
    for row in table.itertuples(index=False):
        out.add_row(*(Text(one_line(value)) for value in (row.change, row.nct_id, row.title, row.site, row.before,
                                                          row.after)))
    console = Console(file=None, width=200, force_terminal=False, no_color=True, record=True)
    with console.capture() as capture:
        console.print(out)
    return capture.get()
