"""Reading a large data set over two processes: a forked worker reads every other run of studies while
this process reads the others, and sends its parts (:class:`~.tables.Part`) back pickled over a pipe.

Only where that is safe and pays: on Linux (``fork``), with no other thread in this process (a fork
copies only the calling thread, so a lock another thread held would stay held in the worker: the app's
server runs its pages in threads, so the app reads in one process), two CPUs to run on, and at least
:data:`SPLIT_MIN` studies (below that the fork and the transfer cost about what they save) and at most
:data:`SPLIT_MAX` (above that the worker's memory would cost more than the time it saves). If anything
goes wrong on the worker's side (it fails, dies, sends something broken), this process reads those
studies itself: the part is the same either way, and so are the tables.

The pickle comes from our own child over a pipe only the two processes hold; no file is involved
(nothing someone else could write: issue 16's "no pickles on disk" is about cache files).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

#: the fewest studies read over two processes. Measured (2026-12-06, fresh processes on 2 CPUs): 357 distinct
#: real records 0.56 s against 0.79–0.81 s in one process; 300 replicated ones (whose repeated texts the caches
#: find) 0.81–0.89 s against 0.81–1.18 s: from a few hundred studies on, the worker pays for its fork and pickle
SPLIT_MIN = 500
#: the most studies read over two processes: the worker's own memory (the pages of the records it touches,
#: copied; its part) is ~11.5 KB a study — at 50,000 studies both processes together held 2,199 MB (PSS)
#: against 1,622 MB in one. Up to 20,000 studies two processes stay under what one needs for 50,000; above,
#: memory comes first and the build keeps to one process (measured 2026-12-06, the first search after a refresh)
SPLIT_MAX = 20_000
#: the records are cut into this many runs, read in turn here and by the worker: a data set whose costly
#: records (long eligibility criteria, many sites) bunch together is still shared evenly
RUNS = 32
#: the worker's share of each pair of runs: less than half, as it also sends its parts, and reads more slowly
#: (each object it touches first is copied from this process's pages)
WORKER_SHARE = 0.45

P = TypeVar("P")
Records = list[dict[str, Any]]


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def can_split(n: int) -> bool:
    """Whether ``n`` studies are read over two processes here and now."""
    return (SPLIT_MIN <= n <= SPLIT_MAX and sys.platform.startswith("linux") and hasattr(os, "fork")
            and threading.active_count() == 1 and cpus() >= 2)


def runs(n: int) -> list[tuple[int, int]]:
    """The runs of ``n`` records, in order: this process reads the 1st, 3rd, …, the worker the 2nd, 4th, …"""
    pairs = max(1, min(RUNS // 2, n // 2))
    out = []
    for k in range(pairs):
        lo, hi = n * k // pairs, n * (k + 1) // pairs
        cut = hi - int((hi - lo) * WORKER_SHARE)
        out += [(lo, cut), (cut, hi)]
    return out


Packing = tuple[Callable[[Records, Any], None], Callable[[Records, Any], None]]


def read_split(read: Callable[[Records], P], join: Callable[[P, P], None], records: Records,
               packing: Packing | None = None) -> P:
    """``read(records)``, over two processes where :func:`can_split` allows: ``read`` gives the part of some
    consecutive records, ``join(part, later)`` extends a part with the part of the records after it.
    ``packing``: ``(pack, unpack)``; the worker calls ``pack(run, part)`` before sending a run's part, to take
    out what this process can put back from its own records with ``unpack(run, part)`` (sending less, and
    holding no copies of what the records hold)."""
    if not can_split(len(records)):
        return read(records)
    bounds = runs(len(records))
    # The first study here, before the fork: the classifiers compile their rule tables on first use,
    # and the worker inherits them compiled.
    part = read(records[:1])
    theirs = [records[lo:hi] for lo, hi in bounds[1::2]]
    try:
        worker: _Worker | None = _Worker(read, theirs, packing[0] if packing else None)
    except OSError:  # (no process or pipe to be had: the process limit, memory) — all read here
        worker = None
    try:
        mine = [read(records[max(lo, 1):hi]) for lo, hi in bounds[::2]]
        later = worker.result(type(part), len(theirs)) if worker is not None else None
    except BaseException:  # (Ctrl-C included: the worker is stopped, never left behind)
        if worker is not None:
            worker.stop()
        raise
    if later is None:  # (no worker, or it failed: its runs read here)
        later = [read(run) for run in theirs]
    elif packing is not None:
        for run, received in zip(theirs, later, strict=True):
            packing[1](run, received)
    for here, there in zip(mine, later, strict=True):
        join(part, here)
        join(part, there)
    return part


class _Worker:
    """A forked process reading runs of records, each into a part: :meth:`result` receives the parts."""

    def __init__(self, read: Callable[[Records], Any], runs: list[Records],
                 pack: Callable[[Records, Any], None] | None) -> None:
        parent = os.getpid()
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            raise
        if pid == 0:  # the worker
            os.close(read_end)
            _work(read, runs, pack, write_end, parent)
        os.close(write_end)
        self.pid: int | None = pid
        self.pipe = os.fdopen(read_end, "rb")

    def result(self, kind: type[P], count: int) -> list[P] | None:
        """The worker's ``count`` parts, or None if it did not send them all, of this kind (it is waited for)."""
        try:
            with self.pipe:
                parts = pickle.load(self.pipe)
        except Exception:  # (EOF: it died; a broken pickle)
            parts = None
        if self._wait() != 0 or not isinstance(parts, list) or len(parts) != count:
            return None
        return parts if all(isinstance(part, kind) for part in parts) else None

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - already gone
                pass
            self._wait()
        self.pipe.close()

    def _wait(self) -> int:
        """The worker's exit code, once it has ended (-1 if unknown: reaped by someone else, as a SIGCHLD
        handler of the embedding program might; its parts are then not trusted)."""
        pid, self.pid = self.pid, None
        if pid is None:
            return -1
        try:
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        except ChildProcessError:
            return -1


def _work(read: Callable[[Records], Any], runs: list[Records], pack: Callable[[Records, Any], None] | None,
          fd: int, parent: int) -> NoReturn:
    """In the worker: read, send, and leave at once (``os._exit``: none of the parent's exit handlers,
    buffers or connections is touched; a failure only shows as a non-zero exit, and the parent reads
    these studies itself). If the parent is killed, the worker stops at the end of the run it is reading."""
    code = 1
    try:
        parts = []
        for run in runs:
            if os.getppid() != parent:  # (the process it reads for was killed: nobody to send to)
                os._exit(1)
            parts.append(read(run))
        if pack is not None:
            for run, part in zip(runs, parts, strict=True):
                pack(run, part)
        with os.fdopen(fd, "wb") as out:
            pickle.dump(parts, out, protocol=pickle.HIGHEST_PROTOCOL)
        code = 0
    finally:
        os._exit(code)
