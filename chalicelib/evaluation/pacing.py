"""How hard the runner may push a model: an AIMD concurrency limit that backs off on throttling,
and the retry policy (which failures are retried, how often, with jittered exponential delays)."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.errors import ModelError, ModelNotReady, ModelTimeout, Throttled, TunegateError

DEFAULT_CONCURRENCY = 8
#: The code of a failure that is not a TunegateError (a library or provider bug): retried a few
#: times, since it may be a garbled answer the provider did not map (e.g. a parser error).
INTERNAL_ERROR = "internal_error"
# Bedrock error codes behind a ModelError that no retry can fix.
_PERMANENT_CODES = frozenset(
    {"AccessDeniedException", "ResourceNotFoundException", "ValidationException"}
)


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


def _default_attempts() -> dict[str, int]:
    return {
        "throttled": 16,
        "model_not_ready": 8,
        "model_timeout": 4,
        "model_error": 5,
        INTERNAL_ERROR: 3,
    }


def _default_delays() -> dict[str, float]:
    return {
        "throttled": 0.05,
        "model_not_ready": 0.5,
        "model_timeout": 0.1,
        "model_error": 0.1,
        INTERNAL_ERROR: 0.1,
    }


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per error code (a code absent here is never retried) and the first delay of its
    exponential back-off; each delay is drawn uniformly below its cap ("full jitter"), so many
    workers throttled together do not come back together."""

    attempts: Mapping[str, int] = field(default_factory=_default_attempts)
    first_delay: Mapping[str, float] = field(default_factory=_default_delays)
    max_delay: float = 10.0

    def retryable(self, error: Exception) -> bool:
        if not isinstance(error, TunegateError):
            return True
        if isinstance(error, Throttled | ModelNotReady | ModelTimeout):
            return True
        return isinstance(error, ModelError) and not is_permanent(error)

    def should_retry(self, error: Exception, failures: int) -> bool:
        """After `failures` failures with this error's code, is another attempt allowed?"""
        return self.retryable(error) and failures < self.attempts.get(error_code(error), 1)

    def delay(self, code: str, failures: int, rng: random.Random | None = None) -> float:
        cap = min(self.max_delay, self.first_delay.get(code, 0.1) * 2 ** (failures - 1))
        return (rng or random).uniform(0.0, cap)


def error_code(error: Exception) -> str:
    return error.code if isinstance(error, TunegateError) else INTERNAL_ERROR


def is_permanent(error: TunegateError) -> bool:
    """A model error caused by the request or the deployment (missing model, no access)."""
    response = getattr(error.__cause__, "response", None)
    if isinstance(response, Mapping):
        return response.get("Error", {}).get("Code") in _PERMANENT_CODES
    return False
