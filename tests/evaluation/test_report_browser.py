"""The report in a real browser: Debian's headless Chromium driven by Playwright opens the file,
shows every part, logs no error, fetches nothing and runs none of the data's markup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.evaluation.report import render_report
from tests.browser import CHROMIUM
from tests.browser import CHROMIUM_ARGS as ARGS
from tests.evaluation.sample_results import make_run

MODELS = ("base", "tuned", "other")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # CI installs both: a missing browser is a failure to report, never a skip.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -r requirements-dev.txt")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    results, items = make_run(MODELS, hostile=True)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(results, iter(items)), encoding="utf-8")
    return path, results


def open_page(browser: Any, path: Path, width: int) -> tuple[Any, Any, dict[str, list[str]]]:
    """A page at `path` with every request, console error and page error recorded; any request
    other than the file itself is aborted so a broken report cannot reach the network."""
    seen: dict[str, list[str]] = {"requests": [], "console": [], "page": []}
    context = browser.new_context(viewport={"width": width, "height": 900})
    url = path.as_uri()

    def route(r: Any) -> None:
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("console", lambda m: m.type in ("error", "warning") and seen["console"].append(m.text))
    page.on("pageerror", lambda e: seen["page"].append(str(e)))
    page.goto(url, wait_until="load")
    return context, page, seen


def test_report_renders_in_chromium(
    browser: Any, report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, results = report
    context, page, seen = open_page(browser, path, 1280)
    try:
        for selector in (
            "#metrics-table",
            "#comparison-table",
            "table.cm",
            "svg.f1-bars",
            "svg.latency",
            "#category-table",
            "article.sample",
        ):
            element = page.locator(selector).first
            assert element.is_visible(), selector
            box = element.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 20, selector
        assert page.locator("table.cm").count() == len(MODELS)
        assert page.locator("svg.latency").count() == len(MODELS)
        assert page.locator("#metrics-table thead th").count() == 1 + len(MODELS)
        assert page.locator("#comparison-table tbody tr").count() == len(results["comparison"])
        assert page.locator("article.sample").count() == len(results["samples"])
        bars = page.locator("svg.f1-bars rect title").count()
        assert bars == len(MODELS) * 3  # three labels, every model
        # the hostile input and output are on screen as text and none of it ran
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.get_by_text('window.__pwned = "input"', exact=False).first.is_visible()
        # nothing wider than the window at desktop width
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        page.emulate_media(media="print")
        assert page.locator("nav.toc").is_hidden()
        assert page.locator("#metrics-table").is_visible()
    finally:
        context.close()
    assert seen["requests"] == [path.as_uri()]
    assert seen["console"] == []
    assert seen["page"] == []


def test_report_fits_a_narrow_window(
    browser: Any, report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Wide tables scroll inside their own box; the page itself never scrolls sideways."""
    path, _ = report
    context, page, seen = open_page(browser, path, 480)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 480
        assert page.locator("svg.f1-bars").bounding_box()["width"] <= 480
        page.screenshot(path=str(tmp_path / "narrow.png"), full_page=True)
    finally:
        context.close()
    assert seen["console"] == [] and seen["page"] == []
