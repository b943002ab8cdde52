"""App replicas on one shared store (issue 17): with TRIALFINDER_ALLOW_REFRESH=false the page has no refresh
button, and a data set written by another process (`trialfinder fetch`) is shown within
TRIALFINDER_VERSION_CHECK seconds, while the store is asked for its version at most once per period."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apiserver import ApiServer
from streamlit.testing.v1 import AppTest

from trialfinder.errors import InvalidInput, StoreUnavailable
from trialfinder.source import freshness
from trialfinder.source.freshness import VersionWatch
from trialfinder.source.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"


def replica_env(monkeypatch: pytest.MonkeyPatch, cache: Path, api: ApiServer, **extra: str) -> dict[str, str]:
    env = {"TRIALFINDER_CACHE_DIR": str(cache), "TRIALFINDER_API_URL": api.url, "TRIALFINDER_BACKOFF": "0.01",
           "TRIALFINDER_MAX_REQUESTS_PER_MINUTE": "100000", **extra}
    for name in ("TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE", "TRIALFINDER_CACHE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def fetch_elsewhere(env: dict[str, str], *args: str) -> None:
    """`trialfinder fetch` in another process: the scheduled refresher."""
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}, **env,
            "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "trialfinder", "fetch", *args], env=full, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def run_app(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def banner_count(at: AppTest) -> int:
    banner = " ".join(str(i.value) for i in at.info)
    found = re.search(r"· (\d+) studies", banner)
    assert found, banner
    return int(found.group(1))


def labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def test_a_replica_has_no_refresh_button(api: ApiServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    replica_env(monkeypatch, tmp_path / "store", api, TRIALFINDER_ALLOW_REFRESH="false")
    at = run_app()
    assert "Refresh" not in labels(at)
    assert any("Refreshed on a schedule" in str(c.value) for c in at.markdown)
    assert banner_count(at) > 0  # it still reads and shows the data


def test_a_single_user_install_keeps_the_button(api: ApiServer, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    replica_env(monkeypatch, tmp_path / "store", api)
    assert "Refresh" in labels(run_app())


def test_a_replica_picks_up_a_data_set_written_by_another_process(api: ApiServer, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    env = replica_env(monkeypatch, tmp_path / "store", api, TRIALFINDER_ALLOW_REFRESH="0",
                      TRIALFINDER_VERSION_CHECK="1")
    fetch_elsewhere(env)  # the default search: the actionable R/R AML studies
    at = run_app()
    first = banner_count(at)
    assert "from a stored copy" in " ".join(str(i.value) for i in at.info)
    fetch_elsewhere(env, "--status", "all", "--all-settings")  # another process writes a bigger data set
    time.sleep(1.1)  # one version-check period
    run_app(at)
    second = banner_count(at)
    assert second > first
    fresh = AppTest.from_file(str(APP), default_timeout=60)  # a new session on this replica sees it too
    assert banner_count(run_app(fresh)) == second


def test_the_store_is_asked_at_most_once_a_period() -> None:
    asked: list[float] = []
    now = [100.0]
    watch = VersionWatch(lambda: asked.append(now[0]) or len(asked), ttl=30, clock=lambda: now[0])
    assert watch.get() == 1
    for step in (1, 10, 29.9):
        now[0] = 100 + step
        assert watch.get() == 1
    now[0] = 130.0
    assert watch.get() == 2 and asked == [100.0, 130.0]
    watch.forget()  # this process saved a data set: asked again at once
    assert watch.get() == 3


def test_a_failing_check_keeps_the_last_answer_until_the_next_period() -> None:
    """The database is down for a moment: the replica keeps the data set it has (no error on every page);
    with no answer yet, the error is raised (the page says what is wrong)."""
    now = [0.0]
    answers: list[object] = [StoreUnavailable("cannot reach the database"), 7, StoreUnavailable("down"), 8]

    def ask() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    watch = VersionWatch(ask, ttl=30, clock=lambda: now[0])  # type: ignore[arg-type]
    with pytest.raises(StoreUnavailable):
        watch.get()
    assert watch.get() == 7  # (asked again at once: there was no answer to keep)
    now[0] = 31.0
    assert watch.get() == 7 and isinstance(watch.error, StoreUnavailable)
    now[0] = 40.0
    assert watch.get() == 7 and answers == [8]  # not asked again within the period
    now[0] = 62.0
    assert watch.get() == 8 and watch.error is None


def test_current_version_follows_the_store(tmp_path: Path, api: ApiServer) -> None:
    settings = Settings(cache_dir=tmp_path, api_url=api.url, version_check=60, max_requests_per_minute=100_000)
    assert freshness.current_version(settings) is None
    from trialfinder.source.dataset import refresh_dataset

    refresh_dataset(settings)
    assert freshness.current_version(settings) is None  # within the period: not asked again
    freshness.forget(settings)
    assert freshness.current_version(settings) is not None


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_allow_refresh_takes_true_or_false_only(value: str) -> None:
    with pytest.raises(InvalidInput, match="TRIALFINDER_ALLOW_REFRESH"):
        Settings.from_env({"TRIALFINDER_ALLOW_REFRESH": value})


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("OFF", False), ("yes", True)])
def test_allow_refresh_values(value: str, expected: bool) -> None:
    assert Settings.from_env({"TRIALFINDER_ALLOW_REFRESH": value}).allow_refresh is expected


@pytest.mark.parametrize("value", ["0", "61", "nan", "-1"])
def test_version_check_is_at_most_a_minute(value: str) -> None:
    with pytest.raises(InvalidInput, match="TRIALFINDER_VERSION_CHECK"):
        Settings.from_env({"TRIALFINDER_VERSION_CHECK": value})
