"""How long the Streamlit page takes: first render, and re-render after a filter change.

Runs app.py with streamlit.testing.v1.AppTest on the full bundled snapshot (377 studies), in a
temporary cache dir so nothing is downloaded. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/app_rerender.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["TRIALFINDER_CACHE_DIR"] = tempfile.mkdtemp(prefix="trialfinder-bench-")
    os.environ.pop("TRIALFINDER_SNAPSHOT_DIR", None)

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    def fresh() -> AppTest:
        return AppTest.from_file(str(APP), default_timeout=120)

    at = fresh()
    cold = timed(at.run)  # new process: imports, geonames/ZIP/lexicon tables, load + build_tables
    assert not at.exception, at.exception

    first, warm_first = [], []
    for _ in range(args.repeat):
        st.cache_resource.clear()
        st.cache_data.clear()
        first.append(timed(fresh().run))  # st caches cleared: load + build_tables again (library warm)
        warm_first.append(timed(fresh().run))  # a new visitor while the tables are cached

    at = fresh()
    at.run()
    at.text_input(key="near").set_value("85719")
    at.selectbox(key="radius").set_value("250")
    with_place = timed(at.run)
    rerender: list[float] = []
    rows: list[int] = []
    for i in range(args.repeat * 2):
        at.multiselect(key="categories").set_value(["targeted"] if i % 2 == 0 else [])
        rerender.append(timed(at.run))
        rows.append(len(at.dataframe[0].value))
    assert not at.exception, at.exception

    def fmt(values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return f"median {statistics.median(ms):7.0f} ms  (min {min(ms):.0f}, max {max(ms):.0f}, n={len(ms)})"

    print(f"cold first render (new process):    {cold * 1000:7.0f} ms")
    print(f"first render, st caches cleared:    {fmt(first)}")
    print(f"first render, tables cached:        {fmt(warm_first)}")
    print(f"render after typing ZIP + radius:   {with_place * 1000:7.0f} ms")
    print(f"re-render after a category change:  {fmt(rerender)}  rows {sorted(set(rows))}")


if __name__ == "__main__":
    main()
