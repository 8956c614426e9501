"""Real headless Chromium over the populated dashboard: pages load, data shows, charts
render, clicks lead from a run to its lineage and from a model to its training data,
and the console stays free of JavaScript errors."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.ui.conftest import TOKEN, LiveServer
from tests.ui.ui_populate import Populated

CHROMIUM = "/usr/bin/chromium"
# A deadline on each wait, not a speed check: on a shared 2-core machine at load 30 a page
# with its charts needs well over Playwright's default 30 s, and a test that fails there
# says nothing about the dashboard.
WAIT_MS = 240_000
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is not installed at /usr/bin/chromium "
                              "(apt-get install -y chromium)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield instance
        instance.close()


class Tab:
    """A page that records console errors, failed requests and uncaught exceptions."""

    def __init__(self, browser: object, base: str) -> None:
        self.base = base
        self.context = browser.new_context()  # type: ignore[attr-defined]
        self.context.set_default_timeout(WAIT_MS)
        self.context.set_default_navigation_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.page.route("**/*", self._local_only)

    def _local_only(self, route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(self.base):
            route.continue_()  # type: ignore[attr-defined]
        else:  # anything else would be a CDN or network fetch: record and block it
            self.errors.append(f"external request: {url}")
            route.abort()  # type: ignore[attr-defined]

    def open(self, path: str) -> object:
        self.page.goto(self.base + path, wait_until="load")
        return self.page

    def charts_rendered(self, minimum: int = 1) -> int:
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('div.chart')].every("
            "e => e.getAttribute('data-rendered') === 'true')", timeout=WAIT_MS)
        count = self.page.locator("div.chart .main-svg").count()
        assert count >= minimum, f"expected {minimum}+ rendered charts, found {count}"
        return count

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: object, live: LiveServer) -> Iterator[Tab]:
    t = Tab(browser, live.url)
    yield t
    t.close()
    assert t.errors == [], t.errors


def test_runs_page_filters_and_sorts(tab: Tab) -> None:
    page = tab.open("/")
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 7
    page.fill("input[name=q]", "params.lr > 0.005 and metrics.auc >= 0.8")
    page.click("#run-filters button[type=submit]")
    page.wait_for_load_state("load")
    names = page.locator("#runs-table tbody tr td:nth-child(2) a").all_inner_texts()
    assert sorted(names) == ["train-0", "train-1"]
    page.click("th a[data-sort='metrics.auc']")
    page.wait_for_load_state("load")
    names = page.locator("#runs-table tbody tr td:nth-child(2) a").all_inner_texts()
    assert names == ["train-1", "train-0"]  # auc 0.9 before 0.81


def test_run_page_charts_and_click_to_lineage(tab: Tab, populated: Populated) -> None:
    page = tab.open("/")
    page.click("#runs-table a:text-is('train-0')")
    page.wait_for_load_state("load")
    assert page.locator("#params").inner_text().count("optimizer") == 1
    assert "sgd" in page.locator("#params").inner_text()
    assert "report.txt" in page.locator("#artifacts-table").inner_text()
    assert "<script>" in page.locator("#console-log").inner_text()  # shown as text, not run
    tab.charts_rendered(minimum=4)  # curves, logged figure, hardware
    assert page.locator("#figure-0 .main-svg").count() >= 1
    page.click("#lineage-link")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/lineage?run={populated.runs['train-0']}")
    tab.charts_rendered(minimum=1)
    nodes = page.locator("#lineage-nodes").inner_text()
    assert "orders@v0" in nodes and "score-batch" in nodes


def test_lineage_graph_nodes_are_clickable(tab: Tab, populated: Populated) -> None:
    page = tab.open(f"/lineage?run={populated.runs['train-0']}")
    tab.charts_rendered()
    page.locator("#lineage-nodes a:text-is('orders@v0')").click()
    page.wait_for_load_state("load")
    assert "/data/orders/v/0" in page.url
    assert "amount_out_of_range" in page.content()


def test_compare_from_the_runs_table(tab: Tab) -> None:
    page = tab.open("/?experiment=churn")
    for name in ("train-0", "train-1", "train-2"):
        page.locator(f"#runs-table tr:has(a:text-is('{name}')) input[name=run]").check()
    page.click("#compare-form button[type=submit]")
    page.wait_for_load_state("load")
    assert "/compare" in page.url
    assert "optimizer" in page.locator("#params-differ").inner_text()
    assert "★" in page.locator("#metrics-compare").inner_text()
    tab.charts_rendered(minimum=3)
    assert page.locator("#parallel .main-svg").count() >= 1


def test_model_to_training_data(tab: Tab, populated: Populated) -> None:
    page = tab.open("/models")
    if populated.registered:
        page.click("#registry-table a:text-is('churn@1')")
    else:
        page.click("#trained-table a:text-is('train-0')")
    page.wait_for_load_state("load")
    tab.charts_rendered()
    page.click("#training-data a.training-data")
    page.wait_for_load_state("load")
    assert page.url.endswith("/data/orders/v/0")
    assert "train-0" in page.locator("#used-by").inner_text()


def test_pipeline_data_and_monitoring_pages(tab: Tab, populated: Populated) -> None:
    page = tab.open("/pipelines")
    page.click("#pipelines-table a:text-is('nightly')")
    page.wait_for_load_state("load")
    tree = page.locator("#step-tree").inner_text()
    assert "load" in tree and "cache hit" in tree and "bad fold" in tree
    tab.charts_rendered()
    page = tab.open("/data/orders")
    assert "orders@v1" in page.locator("#versions").inner_text()
    tab.charts_rendered()
    page = tab.open("/monitoring")
    if populated.monitored:
        assert "accuracy_drop" in page.locator("#alerts").inner_text()
        tab.charts_rendered(minimum=3)


def test_adding_a_note_with_the_token(tab: Tab, populated: Populated) -> None:
    page = tab.open(f"/runs/{populated.runs['train-1']}")
    page.fill("#note-form textarea[name=text]", "checked in the browser")
    page.fill("#note-form input[name=token]", TOKEN)
    page.click("#note-form button[type=submit]")
    page.wait_for_load_state("load")
    assert "Note added." in page.content()
    assert "checked in the browser" in page.locator("#notes-list").inner_text()


def test_runs_table_made_for_people(tab: Tab, browser: object, live: LiveServer,
                                    populated: Populated) -> None:
    missing: list[str] = []
    tab.page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page = tab.open("/?experiment=churn&sort=metrics.loss&order=asc")
    headers = page.locator("#runs-table thead th").all_inner_texts()
    first_metric = headers.index("duration") + 1
    assert headers[first_metric].startswith("loss")  # the sort key leads the metrics
    assert any(h.startswith("param lr") for h in headers)
    sticky = page.eval_on_selector("#runs-table thead th", "e => getComputedStyle(e).position")
    assert sticky == "sticky"
    heights = page.eval_on_selector_all("#runs-table tbody tr",
                                        "rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) < 60  # long params are shortened, never a 230 px row
    tab.charts_rendered(minimum=1)
    assert page.locator("#metric-vs-param .main-svg").count() >= 1
    # Columns chosen here are saved as a view in the metadata store (not the browser):
    # another browser with empty storage, and `lockgate runs list --view`, see them.
    page.click("#column-chooser summary")
    page.uncheck("#column-chooser input[data-column='metrics.auc']")
    column = headers.index(next(h for h in headers if h.startswith("auc"))) + 1
    cell = f"#runs-table tbody tr:first-child td:nth-child({column})"
    assert not page.locator(cell).is_visible()
    page.fill("#save-view input[name=name]", "by-loss")
    page.fill("#save-view input[name=token]", TOKEN)
    page.click("#save-view button[type=submit]")
    page.wait_for_load_state("load")
    assert "View `by-loss` saved for everyone" in page.locator("#view-message").inner_text()
    other = Tab(browser, live.url)  # a fresh context: nothing in its localStorage
    try:
        seen = other.open("/?view=by-loss").locator("#runs-table thead th").all_inner_texts()
        assert not any(h.startswith("auc") for h in seen)
        assert seen[seen.index("duration") + 1].startswith("loss ▲")  # the view's sort
        assert other.page.locator("#views a.active").inner_text() == "by-loss"
    finally:
        other.close()
    assert other.errors == []
    from lockgate.tracking import get_view

    saved = get_view("by-loss", settings=populated.settings)
    assert "metrics.auc" not in saved.columns and "metrics.loss" in saved.columns
    assert (saved.sort, saved.descending, saved.experiment) == ("metrics.loss", False, "churn")
    # Every page has a favicon; nothing the page asks for is missing.
    icon = tab.context.request.get(tab.base + "/favicon.ico")
    assert icon.status == 200 and "svg" in icon.headers["content-type"]
    assert missing == []
    _shot(page, "runs-table")


def test_cv_scores_are_drawn_per_fold_not_as_learning_curves(tab: Tab,
                                                              populated: Populated) -> None:
    """#19: per-fold `cv_*` values were drawn among the learning curves, joined by a line
    over "step". In the browser (Plotly draws client-side) they are their own section:
    one marker per fold on a fold axis, no line; real curves keep their lines."""
    page = tab.open(f"/runs/{populated.runs['train-0']}")
    tab.charts_rendered(minimum=2)
    curves = page.locator("#curves").inner_text()
    assert "cv_roc_auc" not in curves and "loss" in curves
    folds = page.locator("#folds div.chart").first
    assert "cv_roc_auc: one point per fold" in folds.inner_text()
    assert folds.locator(".xtitle").text_content() == "fold"
    assert folds.locator(".scatterlayer .trace .points path").count() == 5
    lines = folds.evaluate("e => [...e.querySelectorAll('.scatterlayer .js-line')]"
                           ".map(p => p.getAttribute('d') || '').filter(d => d.length)")
    assert lines == []  # no line joins the folds
    ticks = folds.locator(".xtick text").all_text_contents()
    assert ticks[0] == "1" and ticks[-1] == "5"  # folds counted from 1, not steps from 0
    curve = page.locator("#curves div.chart").first
    assert curve.evaluate("e => [...e.querySelectorAll('.scatterlayer .js-line')]"
                          ".some(p => (p.getAttribute('d') || '').length > 0)")


def test_parallel_coordinates_without_webgl(tab: Tab) -> None:
    page = tab.open("/?experiment=churn")
    for name in ("train-0", "train-1", "train-2"):
        page.locator(f"#runs-table tr:has(a:text-is('{name}')) input[name=run]").check()
    page.click("#compare-form button[type=submit]")
    page.wait_for_load_state("load")
    tab.charts_rendered(minimum=3)
    assert "WebGL is not supported" not in page.locator("#parallel").inner_text()
    if page.get_attribute("#parallel", "data-fallback") == "svg":  # headless Chromium here
        assert page.locator("#parallel .scatterlayer .trace").count() == 3  # a line per run
        assert "WebGL is not available" in page.locator(".chart-note").inner_text()
    else:  # a browser with WebGL draws the real parallel coordinates
        assert page.locator("#parallel .parcoords").count() >= 1
    _shot(page, "compare")


def _shot(page: object, name: str) -> None:
    """A screenshot for a person to look at, when SCREENSHOT_DIR is set."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
