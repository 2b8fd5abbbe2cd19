"""The human review page in headless Chromium against the API served by `chalice local`: a
finished pairwise-judged job, the key entered once, ratings given with the keyboard, each one
read back through GET reviews, the judge-human agreement shown on the page and in the report."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.jobs.conftest import Harness
from tests.jobs.test_judge_jobs import PAIR
from tests.jobs.test_reviews import INVOKE_ONLY, OWNER, judged_job

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def api_url(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from devstack import serve_api

    log = tmp_path_factory.mktemp("chalice-local") / "out.log"
    with serve_api(log=log) as url:
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
def page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    problems: list[str] = []
    new_page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    new_page.on("pageerror", lambda e: problems.append(str(e)))
    yield new_page, problems
    context.close()


def get(api_url: str, path: str, key: str = OWNER) -> Any:
    request = urllib.request.Request(f"{api_url}{path}", headers={"x-api-key": key})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
        return json.loads(body) if "json" in response.headers["Content-Type"] else body


def shown_first(page: Any, outputs: dict[str, str]) -> str:
    """The model whose answer the page shows as A (the page names no model: a blind review)."""
    answer_a = page.locator("#answers article pre").first.inner_text()
    (model,) = [m for m, text in outputs.items() if text.strip() == answer_a.strip()]
    return model


def wait_saved(page: Any, revision: int) -> None:
    # Locator waits: the page's CSP forbids eval, which wait_for_function needs.
    expect(page.locator("#status")).to_have_text(f"Saved (revision {revision}).")


def test_rate_with_the_keyboard_and_see_the_agreement(
    jobs: Harness, api_url: str, page: tuple[Any, list[str]]
) -> None:
    browser_page, problems = page
    evaluation_id = judged_job(jobs, PAIR, "pairwise", n=3)
    outputs = {(r["index"], r["model"]): r["output"] for r in jobs.items(evaluation_id)}
    base = f"/v1/evaluations/{evaluation_id}"

    response = browser_page.goto(f"{api_url}{base}/review")
    csp = response.headers["content-security-policy"]
    assert "script-src 'sha256-" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp
    browser_page.fill("#key", OWNER)
    browser_page.fill("#name", "Ann <b>")
    browser_page.press("#key", "Enter")
    browser_page.wait_for_selector("#review:not([hidden])")
    assert browser_page.locator("#position").inner_text() == "Item 0 · 1 of 3"
    assert browser_page.evaluate("sessionStorage.getItem('tunegate.review.key')") == OWNER

    first = shown_first(browser_page, {m: outputs[(0, m)] for m in PAIR})
    browser_page.keyboard.press("a")  # A is better
    wait_saved(browser_page, 1)
    (stored,) = get(api_url, f"{base}/reviews")["reviews"]
    assert stored["shown_first"] == first and stored["models"] == PAIR
    assert stored["verdict"] == ("first" if first == PAIR[0] else "second")
    assert stored["reviewer_name"] == "Ann <b>"
    assert browser_page.locator("#position").inner_text() == "Item 1 · 2 of 3"

    browser_page.keyboard.press("t")
    wait_saved(browser_page, 1)
    browser_page.keyboard.press("p")
    browser_page.keyboard.press("p")
    assert browser_page.locator("#position").inner_text() == "Item 0 · 1 of 3"
    assert browser_page.locator("#current").inner_text() == "Your call: answer A"
    assert shown_first(browser_page, {m: outputs[(0, m)] for m in PAIR}) == first  # kept
    browser_page.keyboard.press("b")  # changed my mind: a re-rating replaces
    wait_saved(browser_page, 2)

    listed = get(api_url, f"{base}/reviews")
    calls = [(r["index"], r["verdict"], r["revision"]) for r in listed["reviews"]]
    assert calls == [(0, "second" if first == PAIR[0] else "first", 2), (1, "tie", 1)]
    summary = listed["human_review"]
    assert summary["n"] == 2 and summary["n_reviews"] == 2
    expect(browser_page.locator("#agreement")).to_contain_text("(n = 2)")
    text = browser_page.locator("#agreement").inner_text()
    assert "Judge vs humans: kappa" in text and "2 reviews by 1 reviewer(s)" in text
    assert "Ann <b>: 2 reviews" in text  # shown as text, never as markup
    assert browser_page.locator("#agreement b").count() == 0

    report = get(api_url, f"{base}/report")
    assert '<section id="human-review"' in report and "Ann &lt;b&gt;" in report
    assert get(api_url, base)["human_review"] == summary
    assert problems == []


def test_a_key_without_evaluate_is_refused_on_the_page(
    jobs: Harness, api_url: str, page: tuple[Any, list[str]]
) -> None:
    browser_page, _ = page
    evaluation_id = judged_job(jobs, PAIR, "pairwise", n=1)
    browser_page.goto(f"{api_url}/v1/evaluations/{evaluation_id}/review")
    browser_page.fill("#key", INVOKE_ONLY)
    browser_page.press("#key", "Enter")
    expect(browser_page.locator("#status")).to_contain_text("Cannot load the evaluation")
    assert browser_page.locator("#review").is_hidden()
    assert browser_page.locator("#login").is_visible()
    assert browser_page.evaluate("sessionStorage.getItem('tunegate.review.key')") is None
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(api_url, f"/v1/evaluations/{evaluation_id}/reviews", INVOKE_ONLY)
    assert refused.value.code == 403


def test_rubric_keys_and_buttons_rate_one_answer_at_a_time(
    jobs: Harness, api_url: str, page: tuple[Any, list[str]]
) -> None:
    browser_page, problems = page
    evaluation_id = judged_job(jobs, PAIR[:1], "rubric", n=2)
    base = f"/v1/evaluations/{evaluation_id}"
    browser_page.goto(f"{api_url}{base}/review")
    browser_page.fill("#key", OWNER)
    browser_page.press("#key", "Enter")
    expect(browser_page.locator("#position")).to_have_text("Item 0 · 1 of 2")
    assert browser_page.locator("#answers article").count() == 1
    browser_page.keyboard.press("4")
    wait_saved(browser_page, 1)
    expect(browser_page.locator("#position")).to_have_text("Item 1 · 2 of 2")
    browser_page.keyboard.press("9")  # not a rating: nothing happens
    browser_page.keyboard.press("p")
    expect(browser_page.locator("#current")).to_have_text("Your call: 4 of 5")
    browser_page.get_by_role("button", name="2", exact=True).click()
    wait_saved(browser_page, 2)

    listed = get(api_url, f"{base}/reviews")
    assert [(r["index"], r["models"], r["rating"], r["revision"]) for r in listed["reviews"]] == [
        (0, PAIR[:1], 2, 2)
    ]
    summary = listed["human_review"]
    assert summary["mode"] == "rubric" and summary["n"] == 1 and "weighted_kappa" in summary
    expect(browser_page.locator("#agreement")).to_contain_text("quadratic-weighted kappa")
    assert problems == []
