"""The judge in the report: a real judged run (the local judge model's prompts answered in
process, hostile texts in its reasons) rendered and opened in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.evaluation.judge_report import judge_lines
from chalicelib.evaluation.report import CSP, render_report
from tests.evaluation.test_report_browser import browser, open_page

__all__ = ["browser"]  # the fixture, used by name

HOSTILE = '<img src=x onerror="window.__pwned=1">'


def judged_results(mode: str) -> dict[str, Any]:
    """Results with a judge section and judged samples, built by the real totals."""
    from chalicelib.config.registry import Deployment
    from chalicelib.evaluation.answers import Answer, ItemResult
    from chalicelib.evaluation.cache import CachedAnswer
    from chalicelib.evaluation.datasets import Item
    from chalicelib.evaluation.judge import JudgeSpec, plan_judge
    from chalicelib.evaluation.judge_run import CallOutcome, Judge
    from chalicelib.evaluation.scoring import Reference
    from chalicelib.evaluation.totals import EvaluationTotals
    from emulator.judge_model import judge_answer

    text = {"provider": "bedrock", "request_format": "converse", "output": {"type": "text"}}
    judge = Deployment.model_validate({"name": "j", "model_id": "tunegate.judge-v1:0", **text})
    models = [
        Deployment.model_validate({"name": n, "model_id": "x.echo", **text})
        for n in ("tuned", "base")
    ]
    plan = plan_judge(JudgeSpec(model="j", mode=mode), judge, models)  # type: ignore[arg-type]
    runner = Judge(plan)

    def call(prompt: Any) -> CallOutcome:
        answer = judge_answer(prompt.messages[-1].content)
        if HOSTILE[:4] not in answer:  # the reason a hostile judge would give
            data = json.loads(answer)
            data["reason"] = HOSTILE + " " + data["reason"]
            answer = json.dumps(data)
        return CallOutcome(CachedAnswer(answer, 100, 20), attempts=1, cached=False)

    totals = EvaluationTotals(["tuned", "base"], samples=4, judged=True)
    for i in range(12):
        item = Item(i, i + 1, f"why is review {i} rated positive?", f"it helped my pain {i}")
        ref = Reference("match", None)
        answers = (
            Answer("tuned", "ok", ref, output=f"it helped my pain {i}", key="mismatch"),
            Answer("base", "ok", ref, output="Positive.", key="mismatch"),
        )
        totals.add(ItemResult(item, answers, runner.judge(item, answers, call)))
    return {**totals.results(judge=plan), "meta": {"models": ["tuned", "base"]}}


@pytest.mark.parametrize("mode", ["rubric", "pairwise"])
def test_the_report_shows_the_judge_escaped(mode: str) -> None:
    results = judged_results(mode)
    html = render_report(results, iter([]))
    assert f'content="{CSP}"' in html
    assert HOSTILE not in html and "&lt;img src=x" in html
    assert f"{mode}-v1" in html and 'id="judge-rubric"' in html
    assert ('id="judge-matrix"' in html) == (mode == "pairwise")
    assert ('id="judge-rubric-table"' in html) == (mode == "rubric")
    assert html.count('class="judge-reason"') >= 4  # beside every kept sample
    assert mode in judge_lines(results["judge"])


@pytest.mark.browser
def test_the_judge_section_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_report(judged_results("pairwise"), iter([])), encoding="utf-8")
    context, page, seen = open_page(browser, path, 1280)
    try:
        for selector in ("#judge-matrix", "#judge-pairs", "ul.judge"):
            assert page.locator(selector).first.is_visible(), selector
        assert page.locator("#judge-matrix tbody tr").count() == 2
        assert page.get_by_text("Overlap with the reference", exact=False).first.is_visible()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    finally:
        context.close()
    assert seen["requests"] == [path.as_uri()]
    assert seen["console"] == [] and seen["page"] == []
