"""Isolation: only the configured API host is ever contacted, and everything TrialFinder writes in
its cache directory is readable by the user only.

The host check uses an audit hook (``sys.addaudithook``) on ``socket.connect`` and
``socket.getaddrinfo``, so it sees every connection attempt and name lookup made from Python or C
code in this process, whatever library makes it. Audit hooks cannot be removed: the hook records
only while ``RECORDING`` is a list.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faultcases import ALL, fault_settings

from trialfinder.cli import cli
from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.session import build_session
from trialfinder.source.database import open_store

RECORDING: list[tuple[str, Any]] | None = None


def _hook(event: str, args: tuple) -> None:
    if RECORDING is None:
        return
    if event == "socket.connect":
        RECORDING.append(("connect", args[1]))
    elif event == "socket.getaddrinfo":
        RECORDING.append(("getaddrinfo", (args[0], args[1])))


sys.addaudithook(_hook)


@pytest.fixture
def recording():
    global RECORDING
    RECORDING = []
    try:
        yield RECORDING
    finally:
        RECORDING = None


def outside(events: list[tuple[str, Any]], host: str, port: int) -> list[tuple[str, Any]]:
    bad = []
    for kind, address in events:
        if kind == "connect" and (not isinstance(address, tuple) or tuple(address[:2]) != (host, port)):
            bad.append((kind, address))
        if kind == "getaddrinfo" and (address[0] not in (host, host.encode()) or int(address[1] or 0) != port):
            bad.append((kind, address))
    return bad


def test_the_hook_sees_a_connection_elsewhere(recording, api) -> None:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(("127.0.0.1", 9))  # discard port: refused or not, the attempt is seen
        except OSError:
            pass
    assert outside(recording, api.host, api.port) == [("connect", ("127.0.0.1", 9))]


def test_only_the_configured_api_host_is_contacted(recording, api, tmp_path) -> None:
    from trialfinder.find.tables import build_tables

    env = {"TRIALFINDER_API_URL": api.url, "TRIALFINDER_CACHE_DIR": str(tmp_path / "cache")}
    runner = CliRunner()
    fetched = runner.invoke(cli, ["fetch", "--status", "all", "--all-settings", "--refresh"], env=env)
    assert fetched.exit_code == 0, fetched.output
    settings = fault_settings(api.url, tmp_path / "cache")
    tables = build_tables(load_dataset(settings))
    assert len(tables.studies) > 300
    nct = tables.studies.index[0]
    for args in (["search", "--near", "77030", "--radius", "500"],
                 ["search", "--near", "Paris, France", "--format", "csv"],
                 ["search", "--text", "venetoclax", "--format", "json"],
                 ["show", nct, "--near", "Tucson, AZ"]):
        result = runner.invoke(cli, args, env=env)
        assert result.exit_code == 0, (args, result.output)
    connects = [a for k, a in recording if k == "connect"]
    assert connects, "the refresh must have connected to the loopback API"
    assert outside(recording, api.host, api.port) == []


def test_every_file_the_refresh_creates_is_private(api, tmp_path) -> None:
    """Under umask 000 (the worst case): refreshes (so a previous set exists), a damaged HTTP cache
    and a damaged data-set database set aside, the tables cache. Every folder is 0700 and every file 0600."""
    old = os.umask(0)
    try:
        settings = fault_settings(api.url, tmp_path / "cache")
        refresh_dataset(settings, ALL, session=build_session(settings))
        refresh_dataset(settings, ALL, session=build_session(settings), refresh=True)
        settings.http_cache_path.write_bytes(b"garbage" * 1000)  # keeps the file's mode
        _, result = refresh_dataset(settings, ALL, session=build_session(settings), refresh=True)
        assert any("HTTP cache was damaged" in w for w in result.warnings)
        current = settings.cache_dir / "trialfinder.sqlite"
        assert open_store(settings).version() is not None
        current.write_bytes(b"garbage" * 1000)  # keeps the file's mode
        assert load_dataset(settings).meta.warnings
        refresh_dataset(settings, ALL, session=build_session(settings))
        from trialfinder.find.tablecache import load_tables

        load_tables(settings)  # the built tables are cached in cache_dir too
    finally:
        os.umask(old)
    seen = {}
    for path in [settings.cache_dir, *settings.cache_dir.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        seen[str(path.relative_to(settings.cache_dir))] = oct(mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    names = {Path(p).name.split(".corrupt-")[0] for p in seen}
    assert {"http_cache.sqlite", "trialfinder.sqlite", "trialfinder.sqlite.lock"} <= names
    assert any(".corrupt-" in p for p in seen) and any(p.startswith("tables-") for p in seen)
