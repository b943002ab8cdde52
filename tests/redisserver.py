"""A real Redis for the tests: Debian's ``redis-server`` on loopback, on a free port, in a temporary
folder, with no persistence; started and stopped like the replay API server (tests/apiserver.py)::

    with RedisServer(tmp_path) as redis:
        os.environ["TRIALFINDER_CACHE_URL"] = redis.url
        ...
        redis.kill()          # SIGKILL: "Redis down" for the fault tests

The ``redis_server`` fixture gives one per test. Without the binary the test is skipped with the
reason — but in CI (``CI=true``) it fails instead: CI must run these tests (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARY = "redis-server"
START_TIMEOUT = 10.0


def require_binary(name: str = BINARY, package: str = "redis-server") -> str:
    """The path of ``name``; else skip the test (fail it when ``CI=true``)."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed (Debian: apt-get install {package})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # (as tests/pgserver.py)
        pytest.fail(f"{reason}; CI must run this test — .ci/run installs it", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis answers PING on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; see the module docstring."""

    def __init__(self, directory: Path, binary: str | None = None, password: str | None = None):
        self.dir = Path(directory)
        self.binary = binary or require_binary()
        self.password = password
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        secret = f":{self.password}@" if self.password else ""
        return f"redis://{secret}127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.dir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # (a free port can be taken between choosing it and binding it)
            self.port = free_port()
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                    "--save", "", "--appendonly", "no", "--daemonize", "no",
                    "--logfile", str(self.dir / "redis.log")]
            if self.password:
                args += ["--requirepass", self.password]
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            self.stop()
        log = (self.dir / "redis.log").read_text(errors="replace")[-2000:] if (self.dir / "redis.log").exists() else ""
        raise RuntimeError(f"redis-server did not start on loopback:\n{log}")

    def _wait_ready(self) -> bool:
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.process is None or self.process.poll() is not None:
                return False
            if self.password:  # (PING without AUTH is refused: a NOAUTH answer still says it is up)
                if self._answers():
                    return True
            elif ping(self.port):
                return True
            time.sleep(0.05)
        return False

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return bool(sock.recv(64))
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server (no clean shutdown) and wait for it to be gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Redis on loopback for one test (skipped without redis-server, failed so in CI)."""
    with RedisServer(tmp_path / "redis") as server:
        yield server
