"""The tuning report in headless Chromium: the loss chart is drawn, nothing is fetched, and
none of the hostile names run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.tuning.report import render_report
from tests.browser import CHROMIUM
from tests.browser import CHROMIUM_ARGS as ARGS
from tests.tuning.sample_job import make_job

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def test_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "tuning.html"
    path.write_text(render_report(make_job(hostile=True)), encoding="utf-8")
    url = path.as_uri()
    seen: dict[str, list[str]] = {"requests": [], "errors": []}
    context = browser.new_context(viewport={"width": 480, "height": 900})
    context.route("**/*", lambda r: r.continue_() if r.request.url == url else r.abort())
    page = context.new_page()
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    try:
        page.goto(url, wait_until="load")
        chart = page.locator("svg.loss")
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box and 100 < box["width"] <= 480
        assert page.locator("svg.loss polyline").count() == 2
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.documentElement.scrollWidth") <= 480
    finally:
        context.close()
    assert seen["requests"] == [url]
    assert seen["errors"] == []
