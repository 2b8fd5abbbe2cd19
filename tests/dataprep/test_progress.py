"""The progress bar: silent off a terminal, informative when forced."""

from __future__ import annotations

import io

from chalicelib.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_silent_when_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress(10, "work", stream=stream) as bar:
        bar.advance(10)
    assert stream.getvalue() == ""


def test_forced_bar_shows_done_total_errors_rate_and_eta() -> None:
    stream, clock = io.StringIO(), Clock()
    bar = Progress(100, "eval", stream=stream, force=True, clock=clock, unit="items")
    clock.now = 10.0
    bar.advance(25, errors=2)
    line = bar.render()
    assert "eval" in line and "25/100 items" in line and "25%" in line
    assert "errors 2" in line and "2.5 items/s" in line and "ETA 0:00:30" in line
    clock.now = 40.0
    bar.advance(75)
    bar.close()
    bar.close()
    out = stream.getvalue()
    assert out.endswith("\n") and out.count("\n") == 1
    assert "100/100 items 100%" in out.rsplit("\r", 1)[-1]


def test_redraws_are_throttled() -> None:
    stream, clock = io.StringIO(), Clock()
    bar = Progress(1000, stream=stream, force=True, clock=clock, min_interval=1.0)
    for _ in range(1000):
        bar.advance()
    assert stream.getvalue().count("\r") == 1  # only the first call drew; time never moved
