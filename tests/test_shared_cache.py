"""The shared HTTP cache (issue 17): requests-cache's Redis backend with ``TRIALFINDER_CACHE_URL``, against a
real ``redis-server`` on loopback (tests/redisserver.py), and the refresh when Redis is down: it still works,
uncached, with one warning line and never a traceback."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from apiserver import ApiServer
from conftest import closed_port
from redisserver import RedisServer, redis_server  # noqa: F401  (the fixture)

from trialfinder.errors import InvalidInput
from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.session import build_session, notes
from trialfinder.source.settings import Settings
from trialfinder.source.sharedcache import NAMESPACE, STALE_KEEP

ROOT = Path(__file__).resolve().parent.parent


def fetch_cli(api: ApiServer, cache_dir: Path, cache_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`trialfinder fetch` in its own process (a refresher on another machine, as far as the cache knows)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    env.update(PYTHONPATH=str(ROOT), TRIALFINDER_API_URL=api.url, TRIALFINDER_CACHE_DIR=str(cache_dir),
               TRIALFINDER_MAX_REQUESTS_PER_MINUTE="100000", TRIALFINDER_BACKOFF="0.01", TRIALFINDER_TIMEOUT="5")
    if cache_url is not None:
        env["TRIALFINDER_CACHE_URL"] = cache_url
    return subprocess.run([sys.executable, "-m", "trialfinder", "fetch", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def shared(settings: Settings, url: str, **changes: object) -> Settings:
    return dataclasses.replace(settings, cache_url=url, **changes)


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_two_processes_share_one_redis_cache(api: ApiServer, redis_server: RedisServer, tmp_path: Path) -> None:
    first = fetch_cli(api, tmp_path / "replica-a", redis_server.url)
    assert first.returncode == 0, first.stderr
    assert "live" in first.stderr and ", live," in first.stdout
    sent = len(api.requests)
    assert sent >= 2  # (a page and /version)
    # another process, another cache folder: the answers come from Redis, nothing reaches the API
    second = fetch_cli(api, tmp_path / "replica-b", redis_server.url)
    assert second.returncode == 0, second.stderr
    assert "0 requests sent, from cache" in second.stdout
    assert len(api.requests) == sent
    assert warnings_of(first.stderr + second.stderr) == []
    # no SQLite cache was made in either folder
    assert not list(tmp_path.glob("replica-*/http_cache.sqlite*"))
    a = load_dataset(Settings(cache_dir=tmp_path / "replica-a"))
    b = load_dataset(Settings(cache_dir=tmp_path / "replica-b"))
    assert a.meta.count == b.meta.count == len(a.studies) > 0


def test_answers_live_under_the_namespace_with_a_ttl(settings: Settings, redis_server: RedisServer) -> None:
    import redis

    refresh_dataset(shared(settings, redis_server.url))
    client = redis.Redis.from_url(redis_server.url)
    keys = list(client.scan_iter(f"{NAMESPACE}:*"))
    assert keys, "nothing was cached in Redis"
    for key in keys:  # fresh for a day, then kept a week for stale-if-error, then deleted by Redis
        assert settings.cache_expire_seconds < client.ttl(key) <= settings.cache_expire_seconds + STALE_KEEP
    assert [k for k in client.scan_iter("*") if not k.decode().startswith(NAMESPACE)] == []
    client.close()


def test_refresh_forced_through_redis_asks_the_api_again(settings: Settings, redis_server: RedisServer,
                                                         api: ApiServer) -> None:
    s = shared(settings, redis_server.url)
    refresh_dataset(s)
    before = len(api.requests)
    _, cached = refresh_dataset(s)
    assert cached.from_cache and len(api.requests) == before
    _, forced = refresh_dataset(s, refresh=True)
    assert not forced.from_cache and len(api.requests) > before


def test_redis_killed_the_refresh_still_works_uncached(api: ApiServer, redis_server: RedisServer,
                                                        tmp_path: Path) -> None:
    assert fetch_cli(api, tmp_path / "a", redis_server.url).returncode == 0
    redis_server.kill()
    before = len(api.requests)
    run = fetch_cli(api, tmp_path / "b", redis_server.url)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    lines = warnings_of(run.stderr)
    assert len(lines) == 1, run.stderr
    assert "shared HTTP cache" in lines[0] and "uncached" in lines[0] and redis_server.url in lines[0]
    assert ", live," in run.stdout and len(api.requests) > before  # uncached: it asked the API
    assert load_dataset(Settings(cache_dir=tmp_path / "b")).meta.count > 0


def test_redis_lost_mid_refresh_one_warning_and_a_complete_data_set(settings: Settings, redis_server: RedisServer,
                                                                    api: ApiServer) -> None:
    s = shared(settings, redis_server.url, page_size=20)  # 62 studies: 4 pages, each a chance to fail
    session = build_session(s)
    assert notes(session, s.api_base) == []  # Redis answered when the session was built
    redis_server.kill()
    dataset, result = refresh_dataset(s, session=session)
    session.close()
    assert result.pages == 4 and not result.from_cache and len(dataset.studies) == dataset.meta.count > 60
    cache_lines = [w for w in result.warnings if "shared HTTP cache" in w]
    assert len(cache_lines) == 1 and "uncached" in cache_lines[0]
    assert load_dataset(s).meta.count == len(dataset.studies)


def test_redis_unreachable_from_the_start(settings: Settings) -> None:
    url = f"redis://:s3cret-word@127.0.0.1:{closed_port()}/0"
    dataset, result = refresh_dataset(shared(settings, url))
    assert len(dataset.studies) > 0 and not result.from_cache
    assert len(result.warnings) == 1 and "uncached" in result.warnings[0]
    assert "s3cret-word" not in result.warnings[0]  # the password in the URL is never shown


def test_wrong_password_is_a_warning_not_a_failure(settings: Settings, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "locked", password="right-one") as server:
        url = server.url.replace("right-one", "wrong-one")
        dataset, result = refresh_dataset(shared(settings, url))
    assert len(dataset.studies) > 0
    assert len(result.warnings) == 1 and "shared HTTP cache" in result.warnings[0]
    assert "wrong-one" not in result.warnings[0]


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "postgresql://x@db/tf", "redis"])
def test_a_cache_url_that_is_not_redis_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Settings.from_env({"TRIALFINDER_CACHE_URL": url})
    text = str(caught.value)
    assert "TRIALFINDER_CACHE_URL" in text and "redis://" in text and "\n" not in text


def test_a_bad_cache_url_is_exit_2_from_the_cli(api: ApiServer, tmp_path: Path) -> None:
    run = fetch_cli(api, tmp_path, "http://user:pw-secret@127.0.0.1:6379")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "TRIALFINDER_CACHE_URL" in run.stderr and "pw-secret" not in run.stderr


def test_without_cache_url_the_sqlite_cache_is_kept(settings: Settings) -> None:
    assert settings.cache_url is None
    refresh_dataset(settings)
    assert settings.http_cache_path.is_file()



def test_a_missing_redis_server_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from redisserver import require_binary

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        require_binary("redis-server-not-here", "redis-server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        require_binary("redis-server-not-here", "redis-server")


def test_a_redis_that_accepts_and_never_answers_costs_seconds_not_the_refresh(settings: Settings) -> None:
    """A hung Redis (the port accepts connections, nothing ever answers: a stopped process, a full server):
    the refresh goes on uncached after the answer time-out, with one warning, and stores a complete set."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_hold() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # read nothing, answer nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        dataset, result = refresh_dataset(shared(settings, f"redis://127.0.0.1:{listener.getsockname()[1]}/0"))
        took = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert len(dataset.studies) == dataset.meta.count > 0 and not result.from_cache
    assert len(result.warnings) == 1 and "uncached" in result.warnings[0]
    assert load_dataset(settings).meta.count == len(dataset.studies)
    assert took < 30, took  # the Redis time-outs (2 s connect, 5 s answer), not a hang
