"""How hard the runner may push a model: an AIMD concurrency limit that backs off on throttling.
Which failures are retried, how often and by whom is chalicelib/providers/retries.py."""

from __future__ import annotations

import threading

DEFAULT_CONCURRENCY = 8


class AdaptiveLimit:
    """A concurrency limit between `minimum` and `maximum`, adjusted like TCP congestion control:
    +1 per round of `limit` successful calls, halved on throttling (at most once per round, so a
    burst of throttles from one round of requests counts as one signal)."""

    def __init__(self, maximum: int, minimum: int = 1, decrease: float = 0.5) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        self.maximum = maximum
        self.minimum = minimum
        self._decrease = decrease
        self._limit = float(maximum)
        self._in_flight = 0
        self._since_decrease = maximum  # the first throttle always counts
        self._cond = threading.Condition()
        self.decreases = 0

    @property
    def limit(self) -> int:
        return max(self.minimum, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self) -> None:
        with self._cond:
            while self._in_flight >= self.limit:
                self._cond.wait()
            self._in_flight += 1

    def release(self, *, throttled: bool = False) -> None:
        with self._cond:
            self._in_flight -= 1
            self._since_decrease += 1
            if throttled:
                if self._since_decrease >= self.limit:
                    self._limit = max(float(self.minimum), self._limit * self._decrease)
                    self._since_decrease = 0
                    self.decreases += 1
            else:
                self._limit = min(float(self.maximum), self._limit + 1.0 / self._limit)
            self._cond.notify_all()
