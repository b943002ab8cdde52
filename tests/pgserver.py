"""A real PostgreSQL for the tests: ``initdb`` in a temporary folder, ``postgres`` on loopback on a free
port (its unix socket in that folder too), stopped and removed at the end — as tests/apiserver.py does
for the API.

Found in ``TRIALFINDER_PG_BIN``, else the newest ``/usr/lib/postgresql/<n>/bin`` (Debian's
``postgresql`` package), else ``PATH``. PostgreSQL refuses to run as root: as root the server runs as
the ``postgres`` user the Debian package creates (else ``nobody``), through ``setpriv``.

Without the binaries the tests that need it are skipped with the reason; in CI (``CI=true``) they fail
instead, so a CI image that lost PostgreSQL cannot pass quietly.

``PgServer.url(database)`` is a ``postgresql://`` URL for the superuser ``postgres`` (trust
authentication on loopback only). ``create_database``, ``create_readonly_role``, ``kill`` (SIGKILL of the
postmaster: a crash) and ``start`` again on the same data folder are there for the fault tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def pg_bin() -> Path | None:
    """The folder holding initdb and postgres, or None."""
    given = os.environ.get("TRIALFINDER_PG_BIN")
    candidates = [Path(given)] if given else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                         if p.parent.name.isdigit() else 0, reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).parent)
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "postgres").is_file()), None)


def require_pg() -> Path:
    """The binaries' folder, or skip (fail in CI) with the reason."""
    found = pg_bin()
    if found is None:
        reason = ("PostgreSQL is not installed (no initdb/postgres in /usr/lib/postgresql/*/bin or PATH; "
                  "apt-get install postgresql, or set TRIALFINDER_PG_BIN)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="tf-pg-"))  # (not under pytest's root-only 0700 tmp)
        self.data = self.folder / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres" if _user_exists("postgres") else "nobody"
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        os.chmod(self.folder, 0o700)
        self._run([str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--locale=C", "--no-sync", "--no-instructions"])

    def _as_user(self, argv: list[str]) -> list[str]:
        if self.user is None:
            return argv
        entry = pwd.getpwnam(self.user)
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", *argv]

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self._as_user(argv), capture_output=True, cwd=self.folder, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def start(self) -> PgServer:
        """Start postgres (again, after :meth:`kill`, on the same data) and wait until it answers."""
        log = open(self.folder / "postgres.log", "ab")
        self.process = subprocess.Popen(
            self._as_user([str(self.bindir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                           "-p", str(self.port), "-k", str(self.folder), "-F",  # (fsync off: tests only)
                           "-c", "max_connections=100", "-c", "shared_buffers=16MB"]),
            stdout=log, stderr=log, cwd=self.folder, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited: " + (self.folder / "postgres.log").read_text()[-2000:])
            if self._answers():
                return self
            time.sleep(0.05)
        raise RuntimeError("postgres did not start within 30 s")

    def _answers(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def dsn(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    url = dsn

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def create_database(self, name: str) -> str:
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_readonly_role(self, database: str, role: str = "reader") -> str:
        """A role that may read every table of ``database``'s public schema, and write none."""
        self.sql(f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
                 f"CREATE ROLE {role} LOGIN; END IF; END$$")
        self.sql(f"GRANT CONNECT ON DATABASE \"{database}\" TO {role}")
        self.sql(f"GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}; "
                 f"REVOKE CREATE ON SCHEMA public FROM PUBLIC", database)
        return self.url(database, role)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends: a crash (the next start recovers from the WAL)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.process = None
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
