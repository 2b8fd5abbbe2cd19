"""The tuning report as a string: every value escaped, the loss curves and early stop drawn,
defaults marked, and a page that survives missing fields."""

from __future__ import annotations

import html.parser

from chalicelib.evaluation.report import CSP
from chalicelib.tuning.report import loss_svg, render_report
from tests.tuning.sample_job import HOSTILE, make_job


class Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


def parsed(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def test_hostile_names_are_escaped() -> None:
    page = render_report(make_job(hostile=True))
    tags = parsed(page)
    assert "script" not in tags.tags and "img" not in tags.tags
    assert "onerror" not in tags.attrs
    assert HOSTILE not in page
    assert "&lt;script&gt;window.__pwned" in page
    assert f'content="{CSP}"' in page


def test_loss_curves_early_stop_and_defaults_are_shown() -> None:
    page = render_report(make_job())
    assert page.count("<svg") == 1 and 'class="loss"' in page
    assert 'class="training"' in page and 'class="validation"' in page
    assert page.count("<circle") == 4  # one marker per validation measurement
    assert 'class="early-stop"' in page and "step 19" in page
    assert page.count('<span class="tag">default</span>') == 4  # all but epochCount
    assert "example prices" in page
    assert "$5.10" in page


def test_an_empty_job_still_renders() -> None:
    page = render_report({})
    assert page.startswith("<!DOCTYPE html>") and "No loss metrics yet." in page
    assert loss_svg([]) == ""
    assert loss_svg([{"step": "x", "training_loss": None}]) == ""


def test_a_single_point_does_not_divide_by_zero() -> None:
    svg = loss_svg([{"step": 1, "training_loss": 2.0, "validation_loss": 2.0}], early_step=1)
    assert "<polyline" in svg and "nan" not in svg
