"""The file operations stored things share: a folder only the user can read, files only the user can
read (whatever the umask), reading only regular files (a FIFO or a device put in a file's place is
refused, not waited on or read forever), moving a damaged file aside (kept for inspection, never
deleted), and the cache files (built tables), written whole."""

from __future__ import annotations

import fcntl
import gc
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO


class NotRegularFile(OSError):
    """A path we read holds something other than a regular file (a FIFO, a device, a socket)."""


@contextmanager
def open_regular(path: os.PathLike[str] | str) -> Iterator[IO[bytes]]:
    """Open ``path`` for reading only if it is a regular file (symlinks are followed). It is opened
    non-blocking, so a FIFO without a writer does not hang the open; NotRegularFile otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{os.fspath(path)} is not a regular file")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_regular(path: os.PathLike[str] | str) -> bytes:
    """The bytes of a regular file, at most its size when opened (see :func:`open_regular`)."""
    with open_regular(path) as handle:
        return handle.read(os.fstat(handle.fileno()).st_size)


def write_private(path: os.PathLike[str] | str, data: bytes) -> None:
    """Write ``data`` to ``path``; a file it creates is readable by the user only, whatever the umask
    (an existing file keeps its mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def private_dir(path: os.PathLike[str] | str) -> None:
    """Create ``path`` (and parents) readable by the user only, and tighten it if it exists."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass


def set_aside(path: Path, companions: tuple[str, ...] = ()) -> Path | None:
    """Rename a damaged ``path`` (and ``path + suffix`` for each companion suffix, e.g. SQLite's
    ``-wal``) to ``<name>.corrupt-<time to the microsecond>``; None when there is nothing to move.
    A symlink is moved itself (even one to nowhere), never what it points to."""
    if not os.path.lexists(path):
        return None
    target = path.with_name(f"{path.name}.corrupt-{datetime.now().strftime('%Y%m%dT%H%M%S%f')}")
    os.replace(path, target)
    for suffix in companions:
        extra = Path(str(path) + suffix)
        if os.path.lexists(extra):
            os.replace(extra, Path(str(target) + suffix))
    return target


@contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing a large JSON document creates millions of objects; the cyclic garbage collector
    would rescan them many times over for nothing (none of them can form a cycle)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_cache(path: Path) -> bytes | None:
    """A cache file's bytes; None when it is missing, unreadable or not a regular file (the caller
    rebuilds it)."""
    try:
        return read_regular(path)
    except OSError:
        return None


def write_cache(path: Path, data: bytes | Sequence[bytes | memoryview], family: str) -> None:
    """Save a cache file whole and private (temp file, then rename; ``data`` its bytes, or the pieces of
    them in order), and remove the older files of its
    ``family`` (``<family>-*``, pickles of earlier versions included) and temp files left over 10 minutes
    ago by a killed writer. A cache that cannot be written only costs time: OSError is ignored."""
    try:
        private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{family}-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                handle.writelines(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        for old in path.parent.glob(f"{family}-*"):
            if old != path and old.is_file():
                old.unlink(missing_ok=True)
        for stale in path.parent.glob(f".{family}-*.tmp"):
            if time.time() - stale.stat().st_mtime > 600:
                stale.unlink(missing_ok=True)
    except OSError:
        pass
