"""The one retry policy: which model failures are tried again, how often, after what delay, and
by whom. Every layer takes its policy as an argument; nothing is coordinated through the
environment, so a stage with no overrides never stacks one layer's attempts on another's.

Whether a failure may be retried is the error's own answer (`TunegateError.retryable`), set by
the provider that read the model's reply: Bedrock's AccessDenied, ResourceNotFound and
Validation, and an OpenAI-compatible 4xx other than 408/409/429, are never retried. A failure
that is not a TunegateError (a library bug, an unmapped parser error) counts as
`internal_error` and is retried like a transient one.

Who retries, and how often (attempts in all, per error code):

- Invoke path (`POST /v1/invoke`, the OpenAI-compatible routes): the provider, `invoke_policy`
  (MODEL_MAX_ATTEMPTS, default 3, for throttled, model_not_ready, model_timeout, model_error and
  internal_error; at most that many in all). Bedrock: botocore's standard retry mode with
  `total_max_attempts` from the policy (it retries throttles, 5xx and connection errors, never
  a 4xx such as AccessDenied). OpenAI-compatible: our loop, delays drawn below 0.5 s, 1 s, 2 s.
  A read timeout is not retried there (the API's time budget is spent): 3 x (2 + 6) s +
  back-off stays inside API Gateway's 29 s.
- Evaluation (the `evaluate` command, the job worker): the runner, `EVALUATION` (throttled 16,
  model_not_ready 8, model_timeout 4, model_error 5, internal_error 3); its providers make one
  attempt (`ONE_ATTEMPT`), so the runner sees every throttle and halves its concurrency limit.
  An item failing with one code is attempted at most that code's number of times (with several
  codes, at most the sum).

Delays: "full jitter" exponential back-off, each drawn uniformly below
min(max_delay, first_delay[code] x 2^(failures - 1)), so workers throttled together do not come
back together. `Retry-After` on an error is the hint a client gets, not a delay used here.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.errors import TunegateError

#: The code of a failure that is not a TunegateError (a library or provider bug): retried a few
#: times, since it may be a garbled answer the provider did not map (e.g. a parser error).
INTERNAL_ERROR = "internal_error"
#: The codes of failures worth another attempt (when the error itself says it is retryable).
TRANSIENT_CODES = ("throttled", "model_not_ready", "model_timeout", "model_error", INTERNAL_ERROR)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in all per error code (a code absent here is tried once) and the first delay of
    its exponential back-off; see the module docstring for the policies in use."""

    attempts: Mapping[str, int] = field(default_factory=dict)
    first_delay: Mapping[str, float] = field(default_factory=dict)
    max_delay: float = 10.0

    @property
    def max_attempts(self) -> int:
        """The most attempts any one call may make inside a provider (botocore's total)."""
        return max(self.attempts.values(), default=1)

    def should_retry(self, error: Exception, failures: int) -> bool:
        """After `failures` failures with this error's code, is another attempt allowed?"""
        retryable = error.retryable if isinstance(error, TunegateError) else True
        return retryable and failures < self.attempts.get(error_code(error), 1)

    def delay(self, code: str, failures: int, rng: random.Random | None = None) -> float:
        cap = min(self.max_delay, self.first_delay.get(code, 0.1) * 2 ** (failures - 1))
        return (rng or random).uniform(0.0, cap)


def error_code(error: Exception) -> str:
    return error.code if isinstance(error, TunegateError) else INTERNAL_ERROR


def invoke_policy(max_attempts: int) -> RetryPolicy:
    """The API's: the provider retries every transient failure, `max_attempts` in all."""
    return RetryPolicy(
        attempts=dict.fromkeys(TRANSIENT_CODES, max_attempts),
        first_delay=dict.fromkeys(TRANSIENT_CODES, 0.5),
        max_delay=2.0,
    )


#: The evaluation runner's: patient with throttling (the AIMD limit needs the signal).
EVALUATION = RetryPolicy(
    attempts={
        "throttled": 16,
        "model_not_ready": 8,
        "model_timeout": 4,
        "model_error": 5,
        INTERNAL_ERROR: 3,
    },
    first_delay={
        "throttled": 0.05,
        "model_not_ready": 0.5,
        "model_timeout": 0.1,
        "model_error": 0.1,
        INTERNAL_ERROR: 0.1,
    },
)
#: A provider's when its caller does the retrying (the evaluation runner).
ONE_ATTEMPT = RetryPolicy()
