"""One real-browser test: the app served by `streamlit run`, driven in Debian's headless chromium.

It types a ZIP code, picks a radius, waits for result rows and saves docs/screenshot.png (also
copied to the test's tmp dir). Skipped when chromium or Playwright is missing; it never runs
`playwright install` — it uses the system chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "screenshot.png"
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_patient_search_in_a_real_browser(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")

    port = free_port()
    env = {**os.environ, "TRIALFINDER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TRIALFINDER_SNAPSHOT_DIR", None)
    log = open(tmp_path / "streamlit.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(40_000)
                page.goto(f"http://127.0.0.1:{port}/")
                where = page.get_by_label("Where do you live? (US ZIP code or city)")
                where.fill("85719")
                where.press("Enter")
                page.get_by_text("Distances are measured from Tucson, AZ 85719").wait_for()

                page.get_by_test_id("stSelectbox").filter(has_text="Within").click()
                page.get_by_role("option", name="250", exact=True).click()
                page.get_by_text("within 250 mi of Tucson, AZ 85719").wait_for()

                grid = page.get_by_test_id("stDataFrame").first
                grid.wait_for(state="visible")
                # the grid draws on a canvas; its rows are mirrored in an accessible table
                rows = grid.locator("[role=row]")
                page.wait_for_function(
                    "() => document.querySelectorAll('[data-testid=stDataFrame] [role=row]').length > 1")
                trial_rows = [t for t in rows.all_inner_texts() if "clinicaltrials.gov/study/NCT" in t]
                assert trial_rows, "no trial rows in the results grid"
                assert grid.bounding_box()["height"] > 100
                assert page.get_by_text("trials found").first.is_visible()
                assert page.get_by_text("bundled snapshot").first.is_visible()
                assert page.get_by_text("not medical advice").first.is_visible()
                page.get_by_test_id("stDeckGlJsonChart").wait_for()  # the map, the last elements
                page.get_by_test_id("stVegaLiteChart").last.wait_for()
                page.get_by_test_id("stStatusWidget").wait_for(state="detached")
                # the app scrolls inside its main block: grow the viewport to show all of it
                height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
                page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 6000)})
                page.wait_for_timeout(1500)  # let the grid, map and charts redraw at the new size
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                shutil.copy(SCREENSHOT, tmp_path / "screenshot.png")
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
