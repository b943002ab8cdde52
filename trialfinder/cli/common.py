"""What every command shares: click settings, the settings options, the data-source line, the edge
that turns the exception tree into one line on stderr and an exit code, and :func:`say`, the one way
a command prints: through the sanitiser (:mod:`trialfinder.sanitize`), so nothing that came over the
network reaches the terminal as anything but inert text."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from ..errors import InvalidInput, TrialFinderError
from ..sanitize import block, one_line
from ..source.settings import Settings

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def say(text: str, err: bool = False, nl: bool = True) -> None:
    """Print ``text`` (lines and tabs kept, escape sequences and control characters removed)."""
    click.echo(block(text), err=err, nl=nl)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"trialfinder: {one_line(message)}", err=True)
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
    click.echo(one_line(line), err=True)
    for warning in meta.warnings or []:
        click.echo(f"warning: {one_line(warning)}", err=True)
