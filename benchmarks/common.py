"""Shared helpers for the benchmark scripts: data sets, the loopback API, timers, a peak-memory
subprocess runner, and plain-text tables.

Every script is run from the repository root with the project venv, e.g.::

    .venv/bin/python benchmarks/requests_bytes.py

Nothing here touches the internet: the API is ``tests/apiserver.py`` on 127.0.0.1.

The query used throughout is the CLI's ``trialfinder fetch --status all --all-settings``: every AML
study, every status (no relapsed/refractory terms). It matches 355 of the 377 bundled fixture
studies; replicated data sets are built from those 355 only, so a server holding N replicated
studies answers that query with exactly N.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
OUT_DIR = BENCH_DIR / "out"  # git-ignored; scripts write their summary JSON here
for _p in (str(ROOT / "tests"), str(ROOT), str(BENCH_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from apiserver import ApiServer, load_fixture_studies, replicate  # noqa: E402

from trialfinder.source.query import SearchQuery  # noqa: E402
from trialfinder.source.settings import Settings  # noqa: E402

#: `trialfinder fetch --status all --all-settings`: every AML study in the registry, every status
BENCH_QUERY = SearchQuery.from_user(statuses=["all"], widen=True)


# --- data -------------------------------------------------------------------------------------

@cache
def fixture_studies() -> tuple[dict, ...]:
    """The 377 bundled fixture records (do not mutate)."""
    return tuple(load_fixture_studies())


@cache
def template_ids() -> frozenset[str]:
    """NCT ids of the fixture studies that BENCH_QUERY matches (asked of the replay server)."""
    import requests

    from trialfinder.source.query import to_params

    with serve(list(fixture_studies())) as api:
        params = to_params(BENCH_QUERY, page_size=1000, fields=("NCTId",))
        page = requests.get(f"{api.url}/studies", params=params, timeout=60).json()
    return frozenset(s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"])


def templates() -> list[dict]:
    ids = template_ids()
    return [s for s in fixture_studies() if s["protocolSection"]["identificationModule"]["nctId"] in ids]


def studies(n: int, seed: int = 0) -> list[dict]:
    """``n`` fresh studies (new NCT ids, jittered geoPoints), all matching BENCH_QUERY."""
    return replicate(templates(), n, seed)


@contextmanager
def serve(records: list[dict]) -> Iterator[ApiServer]:
    with ApiServer(records) as api:
        yield api


def warm_server(api: ApiServer, query: SearchQuery = BENCH_QUERY) -> None:
    """Ask the server the query once (one study) so that its one-off search indexing is not
    charged to whichever client happens to go first; then clear its log."""
    import requests

    from trialfinder.source.query import to_params

    requests.get(f"{api.url}/studies", params=to_params(query, page_size=1, fields=("NCTId",)), timeout=120)
    api.reset_log()


def bench_settings(api_url: str, cache_dir: Path) -> Settings:
    """Production settings except: the loopback URL, a private cache, and no client-side rate
    limit (the 50/min politeness limit is for the real API)."""
    return Settings(api_url=api_url, cache_dir=Path(cache_dir), max_requests_per_minute=1e9, timeout=120.0)


@contextmanager
def temp_dir(prefix: str = "tf-bench-") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


# --- timing -------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def repeat(fn: Callable[[], Any], times: int) -> list[float]:
    return [timed(fn)[1] for _ in range(times)]


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- peak memory: one measurement per fresh interpreter -----------------------------------------

def max_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes, as in the targets).

    ``VmHWM`` from /proc/self/status: the high-water mark of this interpreter's own address
    space. (``ru_maxrss`` is not used on Linux: it survives fork + exec, so a child started by a
    parent holding 3 GB would report 3 GB before doing anything.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def run_child(script: str, *args: str, timeout: float = 900, tree_memory: bool = False) -> dict[str, Any]:
    """Run ``benchmarks/<script> --child args...`` in a fresh interpreter; it prints one JSON
    object on its last stdout line, which is returned. ``tree_memory``: also the peak of the memory the
    child and its own children (a build's forked worker) hold together, ``tree_pss_peak_mb``: the sum of
    their PSS (each shared page counted once), sampled every 20 ms from here."""
    cmd = [sys.executable, str(BENCH_DIR / script), "--child", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=ROOT)
        peak, deadline = 0.0, time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{' '.join(cmd)} took over {timeout:.0f} s")
            if tree_memory:
                peak = max(peak, sum(_pss_mb(pid) for pid in (proc.pid, *_children(proc.pid))))
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    reply = json.loads(stdout.strip().splitlines()[-1])
    if tree_memory:
        reply["tree_pss_peak_mb"] = peak
    return reply


def _pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:  # (gone, or no /proc)
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def child_reply(data: dict[str, Any]) -> None:
    data.setdefault("peak_rss_mb", round(max_rss_mb(), 1))
    print(json.dumps(data), flush=True)


# --- reporting ----------------------------------------------------------------------------------

def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def fmt_ratio(naive: float | None, ours: float | None) -> str:
    """'12.3× less' style: how many times smaller ours is than naive (or 'x more' if bigger)."""
    if not naive or not ours:
        return "—"
    r = naive / ours
    return f"{r:.1f}× less" if r >= 1 else f"{1 / r:.1f}× more"


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for r in cells:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


@dataclass
class Figure:
    """One line of the summary: what was measured, ours, the naive baseline, the target."""

    item: str
    metric: str
    ours: str
    naive: str
    ratio: str
    target: str
    met: bool | None  # None: no target for this line

    @property
    def verdict(self) -> str:
        return "—" if self.met is None else ("met" if self.met else "MISSED")


def print_figures(title: str, figures: list[Figure]) -> None:
    print_table(title, ["#", "measure", "TrialFinder", "naive", "ratio", "target", "verdict"],
                [[f.item, f.metric, f.ours, f.naive, f.ratio, f.target, f.verdict] for f in figures])


def save_figures(name: str, figures: list[Figure], extra: dict[str, Any] | None = None) -> Path:
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps({"figures": [asdict(f) for f in figures], **(extra or {})}, indent=1))
    return path


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    import numpy
    import pandas

    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "ram": ram,
        "python": platform.python_version(),
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "os": platform.platform(),
    }


def load_average() -> str:
    """The 1-minute load average: other work on the machine slows every timing."""
    return f"{os.getloadavg()[0]:.2f}"


def print_machine() -> None:
    m = machine()
    print(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM; Python {m['python']}, "
          f"pandas {m['pandas']}, numpy {m['numpy']}; load average {load_average()}")
