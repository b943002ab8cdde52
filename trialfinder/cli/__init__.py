"""The `trialfinder` command line: fetch, search, show, categories, changes.

Output goes to stdout so it pipes; progress, data source and errors go to stderr.
Exit codes: 0 success, 1 error (API, data), 2 usage (bad option value).
``fetch`` is here; ``search``, ``show`` and ``categories`` in ``search``; ``changes`` in ``changes``; what
they share in ``common``. The last stage: may import every folder before it (source, classify, find,
present), errors and labels.
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from . import search as search_commands  # (the module: its commands are added below)
from .changes import changes
from .common import CONTEXT, edge, make_settings, report_source, say, settings_options


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="trialfinder")
def cli() -> None:
    """Find clinical trials for relapsed or refractory acute myeloid leukemia (AML).

    Data: ClinicalTrials.gov API v2, cached locally; works offline from the last download
    or the bundled snapshot. Information only, not medical advice.
    """


@cli.command(context_settings=CONTEXT)
@settings_options
@click.option("--refresh", is_flag=True, help="ignore the cache's freshness and ask the API now")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help="overall status to fetch (repeatable, or 'all'); default: "
                   "recruiting, not yet recruiting, enrolling by invitation, active not recruiting")
@click.option("--condition", metavar="TEXT", help="replace the AML condition search (comma-separated phrases)")
@click.option("--term", metavar="TEXT", help="replace the relapsed/refractory terms (comma-separated phrases)")
@click.option("--all-settings", is_flag=True, help="drop the relapsed/refractory terms: every AML study")
@click.option("--record", "record_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="also save every raw API answer in DIR (to re-record fixtures)")
@click.option("--accept-smaller", is_flag=True,
              help="accept a download with under half the studies stored for the same search (refused otherwise)")
@edge
def fetch(api_url: str | None, cache_dir: Path | None, refresh: bool, statuses: tuple[str, ...],
          condition: str | None, term: str | None, all_settings: bool, record_dir: Path | None,
          accept_smaller: bool) -> None:
    """Download every matching study from ClinicalTrials.gov and make it the current data set.

    A failed or partial download leaves the previous data set untouched, and so does one with under
    half the studies stored for the same search, unless --accept-smaller.
    """
    from ..source.dataset import refresh_dataset
    from ..source.query import SearchQuery
    from .progress import fetch_progress

    settings = make_settings(api_url, cache_dir)
    query = SearchQuery.from_user(condition=condition, term=term, statuses=list(statuses), widen=all_settings)
    with fetch_progress() as progress:
        dataset, _result = refresh_dataset(settings, query, refresh=refresh, progress=progress, record_dir=record_dir,
                                           accept_smaller=accept_smaller)
    if settings.database_url:  # a store named for sharing: its tables built once, here, for every replica
        from ..find.tablecache import share_tables  # (else the first search builds them: fetch stays light)

        share_tables(settings, dataset)
    report_source(dataset.meta)
    say(_result.summary())


cli.add_command(search_commands.search)
cli.add_command(search_commands.show)
cli.add_command(search_commands.categories)
cli.add_command(changes)


def main() -> None:
    cli(prog_name="trialfinder")

