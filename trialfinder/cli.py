"""The `trialfinder` command line: fetch, search, show, categories.

Output goes to stdout so it pipes; progress, data source and errors go to stderr.
Exit codes: 0 success, 1 error (API, data), 2 usage (bad option value).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .config import Settings
from .errors import InvalidInput, TrialFinderError
from .vocab import STATUS_LABELS

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = 1) -> None:
    click.echo(f"trialfinder: {message}", err=True)
    sys.exit(code)


def edge(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the exception tree into one line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InvalidInput as exc:
            fail(f"error: {exc}", 2)
        except TrialFinderError as exc:
            fail(f"error: {exc}", 1)
        except OSError as exc:  # a file or folder we were told to use (--output, --cache-dir, --record)
            fail(f"error: {exc.strerror or exc}: {exc.filename!r}" if exc.filename else f"error: {exc}", 1)
        except KeyboardInterrupt:
            fail("interrupted; the last complete data set is unchanged", 1)
        except Exception as exc:  # a bug of ours: still one line, and a way to see more
            if os.environ.get("TRIALFINDER_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {exc}); the data set is unchanged. "
                 "Please report it; TRIALFINDER_DEBUG=1 shows the details", 1)

    return wrapper


def settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--api-url", envvar="TRIALFINDER_API_URL", metavar="URL",
                        help="API v2 base URL [env TRIALFINDER_API_URL; default https://clinicaltrials.gov/api/v2]")(func)
    func = click.option("--cache-dir", envvar="TRIALFINDER_CACHE_DIR", type=click.Path(file_okay=False, path_type=Path),
                        help="where the HTTP cache and the data set live [env TRIALFINDER_CACHE_DIR]")(func)
    return func


def make_settings(api_url: str | None, cache_dir: Path | None) -> Settings:
    return Settings.from_env(api_url=api_url, cache_dir=cache_dir)


def report_source(meta: Any) -> None:
    line = f"data: {meta.describe()}"
    if meta.source == "snapshot":
        line += " (offline snapshot: run `trialfinder fetch` for current data)"
    click.echo(line, err=True)
    for warning in meta.warnings or []:
        click.echo(f"warning: {warning}", err=True)


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
@edge
def fetch(api_url: str | None, cache_dir: Path | None, refresh: bool, statuses: tuple[str, ...],
          condition: str | None, term: str | None, all_settings: bool, record_dir: Path | None) -> None:
    """Download every matching study from ClinicalTrials.gov and make it the current data set.

    A failed or partial download leaves the previous data set untouched.
    """
    from .dataset import refresh_dataset
    from .progress import fetch_progress
    from .query import SearchQuery

    settings = make_settings(api_url, cache_dir)
    query = SearchQuery.from_user(condition=condition, term=term, statuses=list(statuses), widen=all_settings)
    with fetch_progress() as progress:
        dataset, _result = refresh_dataset(settings, query, refresh=refresh, progress=progress, record_dir=record_dir)
    report_source(dataset.meta)
    click.echo(_result.summary())


from .cli_search import categories, search, show  # noqa: E402  (registers the other commands)

cli.add_command(search)
cli.add_command(show)
cli.add_command(categories)


def main() -> None:
    cli(prog_name="trialfinder")


__all__ = ["cli", "main", "STATUS_LABELS"]
