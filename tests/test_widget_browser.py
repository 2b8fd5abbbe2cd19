"""The feedback widget in headless Chromium against the API served by `chalice local`.

The demo page comes from a second local origin, so every post is a real cross-origin request
that the API's CORS must allow; stored records are read back from DynamoDB (moto) with boto3.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import API_KEY

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
MODEL = "sentiment-converse"
WIDGET = "tunegate-feedback"


class _QuietStatic(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def demo_origin() -> Iterator[str]:
    """examples/widget served as static files from its own origin."""
    handler = functools.partial(_QuietStatic, directory=str(ROOT / "examples" / "widget"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api_url(
    local_stack: Any, demo_origin: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app over HTTP on the test stack, allowing the demo page's origin."""
    from devstack import serve_api

    log = tmp_path_factory.mktemp("chalice-local") / "out.log"
    with serve_api({"CORS_ALLOW_ORIGINS": demo_origin}, log=log) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get update && apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    new_page = context.new_page()
    yield new_page
    context.close()


def invoke(api_url: str, emulator: Any) -> dict[str, Any]:
    emulator.reset()
    request = urllib.request.Request(
        f"{api_url}/v1/models/{MODEL}/invoke",
        data=json.dumps({"input": "This medicine worked well for my headaches."}).encode(),
        headers={"x-api-key": API_KEY, "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def stored(invocation_id: str) -> list[dict[str, Any]]:
    """Every feedback item for the invocation (a scan, not GetItem, so duplicates would show)."""
    dynamodb = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": os.environ["FEEDBACK_TABLE"],
        "FilterExpression": "invocation_id = :id",
        "ExpressionAttributeValues": {":id": {"S": invocation_id}},
    }
    while True:
        page = dynamodb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def open_widget(page: Any, demo_origin: str, api_url: str, invocation: dict[str, Any]) -> Any:
    query = urllib.parse.urlencode(
        {
            "api": api_url,
            "invocation_id": invocation["invocation_id"],
            "token": invocation["feedback_token"],
        }
    )
    page.goto(f"{demo_origin}/index.html?{query}")
    page.wait_for_function(f"customElements.get('{WIDGET}') !== undefined")
    page.evaluate(
        """() => {
            window.__events = [];
            for (const name of ['tunegate-feedback', 'tunegate-feedback-error'])
                document.addEventListener(name, (e) => window.__events.push(
                    {name, status: e.detail.status, message: e.detail.message || null}));
        }"""
    )
    return page.locator(WIDGET)


def events_after(page: Any, count: int) -> list[dict[str, Any]]:
    """Wait until the widget has reported `count` outcomes; return them all."""
    page.wait_for_function(f"window.__events.length >= {count}")
    return list(page.evaluate("window.__events"))


def star(widget: Any, value: int) -> Any:
    return widget.locator(f"[role=radio][data-value='{value}']")


def test_click_stores_a_rating_and_a_second_click_replaces_it(
    page: Any, demo_origin: str, api_url: str, emulator: Any
) -> None:
    invocation = invoke(api_url, emulator)
    widget = open_widget(page, demo_origin, api_url, invocation)
    assert widget.locator("[role=radiogroup]").count() == 1
    assert stored(invocation["invocation_id"]) == []

    star(widget, 4).click()
    first = events_after(page, 1)[-1]
    assert first == {"name": "tunegate-feedback", "status": 201, "message": None}
    records = stored(invocation["invocation_id"])
    assert len(records) == 1 and records[0]["rating"] == {"N": "4"}
    assert records[0]["model"] == {"S": MODEL}
    assert star(widget, 4).get_attribute("aria-checked") == "true"
    assert widget.locator("[role=status]").inner_text() == "Thanks!"

    star(widget, 2).click()
    second = events_after(page, 2)[-1]
    assert second["status"] == 200  # a replacement, not a second record
    records = stored(invocation["invocation_id"])
    assert len(records) == 1 and records[0]["rating"] == {"N": "2"}
    checked = widget.locator("[role=radio][aria-checked=true]")
    assert checked.count() == 1 and checked.get_attribute("data-value") == "2"


def test_keyboard_arrow_and_enter_change_the_rating(
    page: Any, demo_origin: str, api_url: str, emulator: Any
) -> None:
    invocation = invoke(api_url, emulator)
    widget = open_widget(page, demo_origin, api_url, invocation)
    star(widget, 3).click()
    events_after(page, 1)

    # Roving tabindex: the checked star is the group's single tab stop.
    tab_stops = widget.locator("[role=radio][tabindex='0']")
    assert tab_stops.count() == 1 and tab_stops.get_attribute("data-value") == "3"
    tab_stops.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    outcome = events_after(page, 2)[-1]
    assert outcome["status"] == 200
    assert stored(invocation["invocation_id"])[0]["rating"] == {"N": "4"}
    focused = page.evaluate(
        f"""() => {{
            const active = document.querySelector('{WIDGET}').shadowRoot.activeElement;
            return {{value: active.dataset.value, checked: active.getAttribute('aria-checked'),
                     visible: active.matches(':focus-visible'),
                     outline: getComputedStyle(active).outlineStyle}};
        }}"""
    )
    assert focused == {"value": "4", "checked": "true", "visible": True, "outline": "solid"}

    page.keyboard.press("ArrowLeft")
    page.keyboard.press(" ")
    events_after(page, 3)
    assert stored(invocation["invocation_id"])[0]["rating"] == {"N": "3"}


def test_thumbs_and_comment_are_posted_with_the_rating(
    page: Any, demo_origin: str, api_url: str, emulator: Any
) -> None:
    invocation = invoke(api_url, emulator)
    widget = open_widget(page, demo_origin, api_url, invocation)
    star(widget, 5).click()
    events_after(page, 1)
    thumbs_up = widget.locator("button[data-thumbs=up]")
    thumbs_up.click()
    events_after(page, 2)
    assert thumbs_up.get_attribute("aria-pressed") == "true"
    widget.locator("textarea").fill("Clear and correct.")
    widget.locator("button.send").click()
    events_after(page, 3)
    (record,) = stored(invocation["invocation_id"])
    assert record["rating"] == {"N": "5"}
    assert record["thumbs"] == {"S": "up"}
    assert record["comment"] == {"S": "Clear and correct."}


def test_forged_token_shows_the_apis_error_message(
    page: Any, demo_origin: str, api_url: str, emulator: Any
) -> None:
    invocation = invoke(api_url, emulator)
    forged = {**invocation, "feedback_token": invocation["feedback_token"][:-4] + "AAAA"}
    widget = open_widget(page, demo_origin, api_url, forged)
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as answer:
        star(widget, 1).click()
    response = answer.value
    assert response.status == 403
    api_message = response.json()["error"]["message"]
    outcome = events_after(page, 1)[-1]
    assert outcome == {"name": "tunegate-feedback-error", "status": 403, "message": api_message}
    status = widget.locator("[role=alert]")
    assert status.inner_text() == api_message
    assert stored(invocation["invocation_id"]) == []


def test_unreachable_api_shows_a_network_error_and_re_enables(
    page: Any, demo_origin: str, api_url: str, emulator: Any
) -> None:
    from devstack import free_port

    invocation = invoke(api_url, emulator)
    widget = open_widget(page, demo_origin, api_url, invocation)
    widget.evaluate("(el, api) => el.setAttribute('api', api)", f"http://127.0.0.1:{free_port()}")
    star(widget, 2).click()
    outcome = events_after(page, 1)[-1]
    assert outcome["name"] == "tunegate-feedback-error" and outcome["status"] == 0
    assert "Could not reach" in widget.locator("[role=alert]").inner_text()
    assert widget.get_attribute("aria-busy") == "false"
    assert widget.locator("[role=radiogroup]").get_attribute("aria-disabled") == "false"
    assert stored(invocation["invocation_id"]) == []


def test_widget_script_is_served_as_javascript(api_url: str) -> None:
    try:
        with urllib.request.urlopen(f"{api_url}/widget/feedback.js", timeout=5) as response:
            headers, body = response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:  # pragma: no cover - shows the API's error
        pytest.fail(f"GET /widget/feedback.js -> {exc.code}: {exc.read()!r}")
    assert headers["Content-Type"].startswith("application/javascript")
    script = ROOT / "chalicelib" / "feedback" / "static" / "feedback.js"
    assert body == script.read_text(encoding="utf-8")
