"""A dependency-free progress bar for long command-line work, drawn on stderr.

Silent unless stderr is a terminal, so logs and pipes stay clean; `TUNEGATE_PROGRESS=1`
(or `force=True`) draws it anyway, `TUNEGATE_PROGRESS=0` silences it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

_WIDTH = 24


def _enabled(stream: TextIO, force: bool | None) -> bool:
    if force is not None:
        return force
    env = os.environ.get("TUNEGATE_PROGRESS", "").strip().lower()
    if env in {"1", "true", "yes", "on"}:
        return True
    if env in {"0", "false", "no", "off"}:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _quantity(value: float, unit: str) -> str:
    """Bytes read as MB; anything else as a plain count."""
    if unit == "B":
        return f"{value / 1_000_000:.1f}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


class Progress:
    """Done/total, errors, rate and ETA on one self-rewriting stderr line.

    Use as a context manager, or call `close()`; redraws are throttled so calling
    `advance()` per item costs almost nothing.
    """

    def __init__(
        self,
        total: int | None,
        label: str = "",
        *,
        unit: str = "items",
        stream: TextIO | None = None,
        force: bool | None = None,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.done = 0
        self.errors = 0
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = _enabled(self._stream, force)
        self._min_interval = min_interval
        self._clock = clock
        self._start = clock()
        self._last_draw = -1e18
        self._closed = False

    def advance(self, n: int = 1, errors: int = 0) -> None:
        """Count `n` more items done, `errors` of them failed."""
        self.done += n
        self.errors += errors
        if not self.enabled:
            return
        now = self._clock()
        if now - self._last_draw >= self._min_interval:
            self._draw(now)

    def render(self, now: float | None = None) -> str:
        """The current line, without the carriage return."""
        now = self._clock() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        unit = "MB" if self.unit == "B" else self.unit
        parts = [self.label] if self.label else []
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * _WIDTH)
            parts.append("[" + "#" * filled + "." * (_WIDTH - filled) + "]")
            parts.append(
                f"{_quantity(self.done, self.unit)}/{_quantity(self.total, self.unit)} {unit}"
                f" {share * 100:3.0f}%"
            )
        else:
            parts.append(f"{_quantity(self.done, self.unit)} {unit}")
        if self.errors:
            parts.append(f"errors {self.errors}")
        shown_rate = _quantity(rate, self.unit) if self.unit == "B" else f"{rate:.1f}"
        parts.append(f"{shown_rate} {unit}/s")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        elif self.total is not None or self._closed:
            parts.append(f"in {_duration(elapsed)}")
        return " ".join(parts)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        self._stream.write("\r" + self.render(now) + "\x1b[K")
        self._stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self._draw(self._clock())
            self._stream.write("\n")
            self._stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
