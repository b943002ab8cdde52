"""Real-browser tests: the app served by `streamlit run`, driven in Debian's headless chromium.

The hostile-record test serves an edited copy of a real record and checks that its registry text
stays inert. Each person's job, axe-core, the keyboard and 200 % zoom: tests/test_browser_jobs.py. Skipped when chromium or
Playwright is missing; they never run `playwright install` — they use the system chromium.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from apphost import CHROMIUM_ARGS, free_port, start_streamlit, stop_streamlit, wait_healthy

ROOT = Path(__file__).resolve().parent.parent



@contextmanager
def app_page(tmp_path: Path, height: int, snapshot_dir: Path | None = None, query: str = ""):  # type: ignore[no-untyped-def]
    """The app served on a free loopback port (cache in tmp_path, offline), opened in chromium;
    yields the page. Skips when chromium or Playwright is missing."""
    chromium, sync_api = need_browser()
    env = {**os.environ, "TRIALFINDER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TRIALFINDER_SNAPSHOT_DIR", None)
    if snapshot_dir is not None:
        env["TRIALFINDER_SNAPSHOT_DIR"] = str(snapshot_dir)
    port = free_port()
    server, log = start_streamlit(env, tmp_path / "streamlit.log", port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": height})
                page.set_default_timeout(40_000)
                yield page, f"http://127.0.0.1:{port}/{query}"
            finally:
                browser.close()
    finally:
        stop_streamlit(server, log)


def need_browser():  # type: ignore[no-untyped-def]
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    return chromium, pytest.importorskip("playwright.sync_api")


EVIL = "<script>alert(1)</script> [click](javascript:alert(1)) ![x](http://127.0.0.1:9/x.png)"


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_hostile_registry_text_is_inert_in_a_real_browser(tmp_path: Path) -> None:
    """Serves a snapshot in which NCT04067336 — a COPY of the real record, edited for this test —
    carries a script tag, a javascript: markdown link and a markdown image in its title and
    summary. The page must show them as text: no script runs, no link or image is made."""
    snapshot = tmp_path / "snapshot"
    shutil.copytree(ROOT / "fixtures" / "aml-studies", snapshot)
    record_path = snapshot / "NCT04067336.json"
    record = json.loads(record_path.read_text())
    ident = record["protocolSection"]["identificationModule"]
    ident["briefTitle"] = f"{ident['briefTitle']} {EVIL}"
    record["protocolSection"].setdefault("descriptionModule", {})["briefSummary"] = f"Summary {EVIL}"
    record_path.write_text(json.dumps(record))

    with app_page(tmp_path, height=1400, snapshot_dir=snapshot, query="?q=ziftomenib") as (page, url):
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.get_by_text("Summary <script>alert(1)</script>").first.wait_for()
        page.get_by_test_id("stStatusWidget").wait_for(state="detached")
        page.wait_for_timeout(1000)
        assert dialogs == []
        injected = page.evaluate("""() => ({
            scripts: [...document.scripts].filter(s => s.textContent.includes('alert(1)')).length,
            links: [...document.querySelectorAll('a')].filter(a => a.href.startsWith('javascript')).length,
            images: [...document.images].filter(i => i.src.includes('127.0.0.1:9')).length,
        })""")
        assert injected == {"scripts": 0, "links": 0, "images": 0}
        shown = page.inner_text("body")
        assert "<script>alert(1)</script>" in shown and "[click](javascript:alert(1))" in shown
