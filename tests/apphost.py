"""Running `streamlit run app.py` on a free loopback port, for the browser test and the app benchmark."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 30.0, poll: float = 0.25) -> None:
    """Wait until Streamlit's health endpoint answers 200; fail early if the server exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")


ROOT = Path(__file__).resolve().parent.parent

#: Debian's chromium as root in a closed network (no sandbox, no background connections)
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def start_streamlit(env: dict[str, str], log_path: Path, port: int,
                    script: Path = ROOT / "app.py") -> tuple[subprocess.Popen, object]:
    """`streamlit run <script>` (the app by default) on 127.0.0.1:``port`` with ``env``; output appended
    to ``log_path``."""
    log = open(log_path, "ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    return server, log


def stop_streamlit(server: subprocess.Popen, log) -> None:  # type: ignore[no-untyped-def]
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()
