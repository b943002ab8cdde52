"""One frozen Settings object; environment variables map onto it here and nowhere else."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .. import __version__

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
    "offline": "TRIALFINDER_OFFLINE",
}


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with named defaults.

    ``cache_dir`` holds both the HTTP cache (``http_cache.sqlite``) and the current data set
    (``dataset/``); it is created readable by the user only.
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
    #: never touch the network; serve the last data set or the snapshot
    offline: bool = False
    user_agent: str = f"TrialFinder/{__version__} (+https://github.com/trialfinder/trialfinder)"

    def __post_init__(self) -> None:
        for name in ("cache_dir", "snapshot_dir"):
            value = getattr(self, name)
            if not isinstance(value, Path):
                object.__setattr__(self, name, Path(str(value)).expanduser())

    @property
    def http_cache_path(self) -> Path:
        return self.cache_dir / "http_cache.sqlite"

    @property
    def dataset_dir(self) -> Path:
        return self.cache_dir / "dataset"

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
        for key in ("timeout", "max_requests_per_minute", "backoff_factor"):
            raw = env.get(ENV[key])
            if raw:
                try:
                    values[key] = float(raw)
                except ValueError:
                    from ..errors import InvalidInput

                    raise InvalidInput(f"{ENV[key]}={raw!r} is not a number") from None
        if env.get(ENV["offline"], "").lower() in {"1", "true", "yes"}:
            values["offline"] = True
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "api_url" in values:
            values["api_url"] = str(values["api_url"]).rstrip("/")
        return cls(**values)  # type: ignore[arg-type]
