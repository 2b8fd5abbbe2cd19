"""Clipping to fit a response: the longest clip that fits, then fewer entries; always ends."""

from __future__ import annotations

from typing import Any

from chalicelib.api.payload import json_cost, payload_bytes
from chalicelib.evaluation.clipping import MAX_TEXT, clip, clip_item, fit_samples
from chalicelib.evaluation.report_samples import SAMPLES_BUDGET, samples_section


def sample(index: int, text: str, messages: int = 0) -> dict[str, Any]:
    shown: Any = text
    if messages:
        shown = {"system": text, "messages": [{"role": "user", "content": text}] * messages}
    return {
        "index": index,
        "kind": "correct",
        "input": shown,
        "reference": text,
        "outputs": {"m": {"output": text, "prediction": None, "status": "ok", "correct": True}},
    }


def test_clip_says_how_much_was_cut() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("x" * 5000) == "x" * MAX_TEXT + "… [1,000 more characters]"


def test_samples_keep_the_longest_clip_that_fits() -> None:
    samples = [sample(i, "字" * 10_000) for i in range(20)]
    fitted = fit_samples(samples, 1024 * 1024)
    assert len(fitted) == 20 and json_cost(fitted) <= 1024 * 1024
    assert fitted[0]["input"] == "字" * 2000 + "… [8,000 more characters]"  # 4000 is too long
    assert fitted[0]["outputs"]["m"]["output"] == fitted[0]["input"]
    assert samples[0]["input"] == "字" * 10_000  # the stored samples are left alone


def test_a_huge_conversation_keeps_its_ends_and_says_what_it_left_out() -> None:
    [fitted] = fit_samples([sample(0, "hi", messages=100_000)], 64 * 1024)
    messages = fitted["input"]["messages"]
    assert len(messages) == MAX_TEXT // 20 + 1  # 200 messages and the marker
    assert messages[-2] == {"role": "omitted", "content": "[99,800 more messages]"}
    record = {"index": 0, "input": [{"role": "user", "content": "y" * 9000}] * 3, "output": "z"}
    assert clip_item(record, 100)["input"][0]["content"].endswith("[8,900 more characters]")


def test_when_even_short_texts_do_not_fit_the_first_samples_are_kept() -> None:
    samples = [sample(i, "x" * 500) for i in range(1000)]
    fitted = fit_samples(samples, 50_000)
    assert 0 < len(fitted) < 1000 and json_cost(fitted) <= 50_000
    assert [s["index"] for s in fitted] == list(range(len(fitted)))


def test_the_reports_samples_fit_their_budget() -> None:
    samples = [sample(i, "評" * 30_000) for i in range(200)]
    html = samples_section(["m"], samples)
    assert payload_bytes(html) <= SAMPLES_BUDGET
    assert html.count('<article class="sample">') == 200
    assert "more characters]" in html
