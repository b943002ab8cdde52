"""One frozen Settings object; environment variables map onto it here and nowhere else.

Every number is checked where it enters (``__post_init__``, so an environment variable and a value
given in code alike): 0, a negative, nan, inf, 1e309 or anything outside ``BOUNDS`` is refused with
one line naming the variable and the accepted range (the CLI exits 2).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import platformdirs

from .. import __version__
from ..errors import InvalidInput

DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
#: package data: the bundled snapshot (snapshot.json.gz, rebuilt from fixtures/aml-studies by
#: scripts/build_snapshot.py), so an installed package works offline on its own
DEFAULT_SNAPSHOT_DIR = Path(__file__).resolve().parents[1] / "data"

ENV = {
    "api_url": "TRIALFINDER_API_URL",
    "cache_dir": "TRIALFINDER_CACHE_DIR",
    "snapshot_dir": "TRIALFINDER_SNAPSHOT_DIR",
    "timeout": "TRIALFINDER_TIMEOUT",
    "max_requests_per_minute": "TRIALFINDER_MAX_REQUESTS_PER_MINUTE",
    "backoff_factor": "TRIALFINDER_BACKOFF",
    "max_response_mb": "TRIALFINDER_MAX_RESPONSE_MB",
    "refresh_deadline": "TRIALFINDER_REFRESH_DEADLINE",
    "max_pages": "TRIALFINDER_MAX_PAGES",
    "offline": "TRIALFINDER_OFFLINE",
    "database_url": "TRIALFINDER_DATABASE_URL",
    # issue 17: running it for many people
    "cache_url": "TRIALFINDER_CACHE_URL",
    "allow_refresh": "TRIALFINDER_ALLOW_REFRESH",
    "version_check": "TRIALFINDER_VERSION_CHECK",
}

#: the numbers read from the environment: (lowest, highest, what they count); all inclusive
BOUNDS: dict[str, tuple[float, float, str]] = {
    "timeout": (0.01, 3600.0, "seconds"),
    "max_requests_per_minute": (1.0, 1e9, "requests a minute"),
    "backoff_factor": (0.01, 60.0, "seconds"),
    "max_response_mb": (0.001, 10_000.0, "megabytes (1 MB = 1,000,000 bytes)"),
    "refresh_deadline": (0.1, 86_400.0, "seconds"),
    "max_pages": (1, 100_000, "pages (a whole number)"),
    "version_check": (0.1, 60.0, "seconds"),
}
INTEGERS = frozenset({"max_pages"})


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with named defaults.

    ``cache_dir`` holds the HTTP cache (``http_cache.sqlite``) and, unless ``database_url`` names
    another database, the data sets (``trialfinder.sqlite``); it is created readable by the user only.
    """

    api_url: str = DEFAULT_API_URL
    cache_dir: Path = field(default_factory=lambda: Path(platformdirs.user_cache_dir("trialfinder")))
    snapshot_dir: Path = DEFAULT_SNAPSHOT_DIR
    #: (connect, read) seconds for every request
    timeout: float = 30.0
    #: how long a cached API answer counts as fresh
    cache_expire_seconds: int = 24 * 3600
    #: client-side politeness limit for requests that actually leave the machine
    max_requests_per_minute: float = 50.0
    #: retries on 429/5xx/connection errors, exponential backoff with jitter
    max_retries: int = 5
    backoff_factor: float = 1.0
    backoff_max: float = 30.0
    #: a Retry-After longer than this is not waited for: we give up with RateLimited
    max_retry_after: float = 120.0
    page_size: int = 1000
    #: the largest answer accepted, on the wire and after decompression (a bigger one is refused)
    max_response_mb: float = 50.0
    #: a whole refresh (every page, every retry, /version) must finish within this many seconds
    refresh_deadline: float = 600.0
    #: the most pages one listing may take (with or without totalCount): 200 × 1000 = 200,000 studies
    max_pages: int = 200
    #: never touch the network; serve the last data set or the snapshot
    offline: bool = False
    #: the database holding the data sets (SQLAlchemy URL, e.g. ``postgresql://user@host/trialfinder``
    #: for many app replicas on one shared store); "" means the embedded default, see :attr:`database`
    database_url: str = ""
    user_agent: str = f"TrialFinder/{__version__} (+https://github.com/trialfinder/trialfinder)"
    #: the shared HTTP cache (``redis://host:port/db``, ``rediss://…``, ``unix:///path``); None: SQLite in cache_dir
    cache_url: str | None = None
    #: the app's "Refresh data" button; false on app replicas, where a scheduled ``trialfinder fetch`` refreshes
    allow_refresh: bool = True
    #: the app asks the store whether a new data set was written at most this often (seconds)
    version_check: float = 30.0

    def __post_init__(self) -> None:
        for name in ("cache_dir", "snapshot_dir"):
            value = getattr(self, name)
            if not isinstance(value, Path):
                object.__setattr__(self, name, Path(str(value)).expanduser())
        for name in BOUNDS:
            object.__setattr__(self, name, checked(name, getattr(self, name)))
        if self.cache_url is not None:
            object.__setattr__(self, "cache_url", checked_cache_url(self.cache_url))

    @property
    def api_base(self) -> str:
        """``api_url`` without any ``user:password@``: the URL every request, message and stored
        data set uses (the credentials travel as :attr:`api_credentials` in a header instead)."""
        return without_credentials(self.api_url)

    @property
    def api_credentials(self) -> tuple[str, str] | None:
        """(user, password) given in ``api_url``, else None."""
        parts = urlsplit(self.api_url)
        if "@" not in parts.netloc:
            return None
        return unquote(parts.username or ""), unquote(parts.password or "")

    @property
    def max_response_bytes(self) -> int:
        return int(self.max_response_mb * 1_000_000)

    @property
    def http_cache_path(self) -> Path:
        return self.cache_dir / "http_cache.sqlite"

    @property
    def dataset_dir(self) -> Path:
        """Where versions before the database kept the data set as files (read once, to migrate)."""
        return self.cache_dir / "dataset"

    @property
    def sqlite_file(self) -> Path | None:
        """The embedded default database's file (None when ``database_url`` names another)."""
        return None if self.database_url else self.cache_dir / "trialfinder.sqlite"

    @property
    def database(self) -> str:
        """``database_url``, or by default an SQLite file in the cache folder (nothing to install)."""
        return self.database_url or f"sqlite:///{self.sqlite_file}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get(ENV["api_url"]):
            values["api_url"] = env[ENV["api_url"]].rstrip("/")
        if env.get(ENV["cache_dir"]):
            values["cache_dir"] = Path(env[ENV["cache_dir"]]).expanduser()
        if env.get(ENV["snapshot_dir"]):
            values["snapshot_dir"] = Path(env[ENV["snapshot_dir"]]).expanduser()
        for key in BOUNDS:
            raw = env.get(ENV[key])
            if raw:
                values[key] = checked(key, raw.strip())
        if env.get(ENV["database_url"], "").strip():
            values["database_url"] = env[ENV["database_url"]].strip()
        if env.get(ENV["offline"], "").lower() in {"1", "true", "yes"}:
            values["offline"] = True
        if env.get(ENV["cache_url"], "").strip():
            values["cache_url"] = env[ENV["cache_url"]].strip()
        if env.get(ENV["allow_refresh"], "").strip():
            values["allow_refresh"] = switch("allow_refresh", env[ENV["allow_refresh"]])
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "api_url" in values:
            values["api_url"] = str(values["api_url"]).rstrip("/")
        return cls(**values)  # type: ignore[arg-type]


def without_credentials(url: str) -> str:
    """``http://user:secret@host/…`` -> ``http://host/…``; any other URL unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


CACHE_SCHEMES = ("redis", "rediss", "unix")
SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def checked_cache_url(url: str) -> str:
    """``url`` if it names a Redis server (redis://, rediss://, unix://); else InvalidInput, one line
    (never showing a password given in it)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in CACHE_SCHEMES:
        raise InvalidInput(f"{ENV['cache_url']}={without_credentials(url)!r} is not usable; give a Redis URL "
                           "such as redis://127.0.0.1:6379/0 (or rediss://…, unix:///path), or unset it for "
                           "the SQLite cache in the cache folder")
    return url


def switch(name: str, raw: str) -> bool:
    """An on/off environment variable: 1/true/yes/on or 0/false/no/off (any case); else InvalidInput."""
    value = SWITCH.get(raw.strip().lower())
    if value is None:
        raise InvalidInput(f"{ENV[name]}={raw!r} is not usable; give true or false (1/0, yes/no, on/off)")
    return value


def _accepted(name: str) -> str:
    low, high, unit = BOUNDS[name]
    return f"give {unit} from {low:g} to {high:g}"


def checked(name: str, value: object) -> float | int:
    """``value`` of the numeric setting ``name`` if it is a finite number within ``BOUNDS``; else
    InvalidInput, one line naming the environment variable and what it accepts."""
    low, high, _ = BOUNDS[name]
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    usable = math.isfinite(number) and low <= number <= high
    if name in INTEGERS:
        usable = usable and number.is_integer()
    if not usable:
        raise InvalidInput(f"{ENV[name]}={value!r} is not usable; {_accepted(name)}")
    return int(number) if name in INTEGERS else number
