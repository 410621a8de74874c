"""The app in a real headless Chromium (Debian's chromium through Playwright's executable_path;
no browser download): open the app, edit a driver's cell in the data editor, run an
optimization, see the lineups, download the CSV; a screenshot of every page goes to
test-output/screenshots."""

import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import start_streamlit

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = start_streamlit(tmp_path_factory.mktemp("state"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser_page(server):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test must run in CI, but {CHROMIUM} is missing")
        pytest.skip(f"browser test skipped: {CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        ctx.close()
        browser.close()


IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && app.getAttribute('data-test-script-state') === 'notRunning';
}"""


def wait_idle(page):
    """The server has finished the script run: the app's own run state (the attribute Streamlit's
    e2e suite waits on), not a guess from a running indicator that appears after a delay."""
    page.wait_for_function(IDLE, timeout=60_000)
    page.wait_for_timeout(100)  # let the last delta render
    page.wait_for_function(IDLE, timeout=60_000)


def shot(page, name, height: int = 2200):
    """A screenshot of the page as a tall window shows it (Streamlit scrolls inside its own
    container, so a full-page shot of a normal window stops at the fold)."""
    (OUT / "screenshots").mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
    page.wait_for_timeout(1200)  # charts re-layout to the new size
    page.screenshot(path=str(OUT / "screenshots" / f"{name}.png"))
    page.set_viewport_size(size)
    page.wait_for_timeout(300)


def nav(page, label):
    """Go to a page through the sidebar, from an idle app, and wait until it is shown."""
    wait_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
    page.wait_for_url(lambda url: urlsplit(url).path.rstrip("/").endswith("/" + label.lower()))
    page.locator("h1", has_text=label).wait_for()
    wait_idle(page)


def test_edit_optimize_download(browser_page, server):
    page = browser_page
    t0 = time.perf_counter()
    page.goto(server)
    page.get_by_text("Opened the newest shipped salary slate").wait_for()  # a first visit opens a slate that can be optimized
    wait_idle(page)
    box = page.get_by_test_id("stSelectbox").first
    box.click()
    page.get_by_role("option", name="2026-04-12 Food City 500 (DK, bristol)").click()
    wait_idle(page)
    page.get_by_role("button", name="Load salary slate").click()
    page.get_by_text("Loaded 2026-04-12 Food City 500").wait_for()
    wait_idle(page)

    # edit Kyle Larson's salary in the data editor: select the first row's salary cell and type
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    bb = grid.bounding_box()
    page.mouse.click(bb["x"] + 40, bb["y"] + 55)  # first row, first column
    for _ in range(2):  # id -> name -> salary
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")  # open the cell editor
    page.wait_for_timeout(300)
    page.keyboard.press("Control+A")
    page.keyboard.type("12000", delay=50)
    page.keyboard.press("Enter")
    page.get_by_text("Edits applied.").wait_for()
    wait_idle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download slate (JSON)").click()
    import json

    saved = json.loads(Path(dl.value.path()).read_text())
    assert next(d for d in saved["drivers"] if d["driver_id"] == "kyle-larson")["salary"] == 12000
    shot(page, "1-slate")

    nav(page, "Constraints")
    page.get_by_text("DK lineups of 6 drivers under a $50,000 salary cap").wait_for()
    shot(page, "2-constraints")

    nav(page, "Optimize")
    page.get_by_label("Lineups", exact=True).fill("5")
    page.get_by_role("button", name="Run").click()
    page.get_by_role("heading", name="Lineups").wait_for(timeout=180_000)
    wait_idle(page)
    elapsed = time.perf_counter() - t0
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download DraftKings upload CSV").click()
    path = OUT / "pitwall-dk-lineups.csv"
    dl.value.save_as(str(path))
    rows = path.read_text().splitlines()
    assert rows[0] == "D,D,D,D,D,D" and len(rows) == 6
    assert all(len(r.split(",")) == 6 and r.count("(") == 6 for r in rows[1:])  # "Name (ID)" cells
    shot(page, "3-optimize")

    nav(page, "Contest")
    page.get_by_label("Contest size (entries)").fill("500")
    page.get_by_label("Your lineups").fill("5")
    page.get_by_role("button", name="Run contest").click()
    page.get_by_role("heading", name="Your lineups").wait_for(timeout=180_000)
    wait_idle(page)
    page.get_by_text("Profit p95").first.wait_for()
    shot(page, "4-contest")

    nav(page, "Scenarios")
    page.get_by_text("Race skeletons").first.wait_for()
    shot(page, "5-scenarios")

    nav(page, "Calibration")
    page.get_by_text("144 races").first.wait_for()
    page.wait_for_timeout(1500)
    shot(page, "6-calibration")
    (OUT / "browser-test.txt").write_text(f"open -> edit -> run -> lineups: {elapsed:.1f} s\n")


def test_api_docs_render_offline(browser_page, tmp_path_factory):
    """/docs in a real Chromium with every request off the server refused: Swagger UI still renders."""
    from helpers import start_api

    proc, base = start_api(tmp_path_factory.mktemp("api-state"))
    origin = base.removesuffix("/api/v1")
    page = browser_page
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    try:
        page.route("**/*", only_local)
        page.goto(f"{origin}/docs")
        page.locator(".swagger-ui .info .title", has_text="Pitwall API").wait_for()
        page.get_by_text("/api/v1/optimize/{run_id}/status").first.wait_for()
        assert outside == []
    finally:
        page.unroute("**/*")
        proc.terminate()
        proc.wait(10)
