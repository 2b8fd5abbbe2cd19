"""The AIMD concurrency limit and the retry policy, without any model."""

from __future__ import annotations

import random
import threading

import pytest

from chalicelib.errors import (
    InvalidRequest,
    ModelError,
    ModelNotReady,
    ModelTimeout,
    Throttled,
)
from chalicelib.evaluation.pacing import AdaptiveLimit, RetryPolicy, is_permanent


def cycle(limit: AdaptiveLimit, n: int, *, throttled: bool = False) -> None:
    for _ in range(n):
        limit.acquire()
        limit.release(throttled=throttled)


def test_throttle_halves_the_limit_once_per_round() -> None:
    limit = AdaptiveLimit(32)
    cycle(limit, 1, throttled=True)
    assert limit.limit == 16
    # the rest of the same round of requests throttled too: still one signal
    cycle(limit, 10, throttled=True)
    assert limit.limit == 16
    cycle(limit, 6, throttled=True)  # 16 calls since the decrease: a new round
    assert limit.limit == 8
    assert limit.decreases == 2


def test_successes_raise_the_limit_by_about_one_per_round_up_to_the_maximum() -> None:
    limit = AdaptiveLimit(32)
    for _ in range(5):
        cycle(limit, limit.limit, throttled=True)
    assert limit.limit == 1
    cycle(limit, 1)  # a round at limit 1 is one call
    assert limit.limit == 2
    cycle(limit, 2)
    assert limit.limit == 2  # 2.5: rounds down
    cycle(limit, 1000)
    assert limit.limit == 32


def test_never_below_the_minimum() -> None:
    limit = AdaptiveLimit(8, minimum=3)
    for _ in range(10):
        cycle(limit, 8, throttled=True)
    assert limit.limit == 3


def test_acquire_blocks_at_the_limit_until_a_release() -> None:
    limit = AdaptiveLimit(2)
    limit.acquire()
    limit.acquire()
    entered = threading.Event()

    def third() -> None:
        limit.acquire()
        entered.set()

    worker = threading.Thread(target=third)
    worker.start()
    assert not entered.wait(0.05)
    assert limit.in_flight == 2
    limit.release()
    assert entered.wait(5)
    worker.join()
    assert limit.in_flight == 2


def test_bad_bounds() -> None:
    with pytest.raises(ValueError):
        AdaptiveLimit(2, minimum=3)


class _Response(Exception):
    def __init__(self, code: str) -> None:
        self.response = {"Error": {"Code": code}}


def caused_by(error: ModelError, code: str) -> ModelError:
    error.__cause__ = _Response(code)
    return error


def test_which_errors_are_retried_and_how_often() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(Throttled("t"), 1)
    assert policy.should_retry(Throttled("t"), policy.attempts["throttled"] - 1)
    assert not policy.should_retry(Throttled("t"), policy.attempts["throttled"])
    assert policy.should_retry(ModelNotReady("n"), 1)
    assert policy.should_retry(ModelTimeout("t"), 1)
    assert policy.should_retry(ModelError("unreadable"), 1)
    assert policy.should_retry(caused_by(ModelError("x"), "InternalServerException"), 1)
    assert not policy.should_retry(InvalidRequest("bad"), 1)
    # not a TunegateError: an unmapped library error (e.g. a parser error) or a bug, a few times
    assert policy.should_retry(RuntimeError("?"), policy.attempts["internal_error"] - 1)
    assert not policy.should_retry(RuntimeError("?"), policy.attempts["internal_error"])
    missing = caused_by(ModelError("gone"), "ResourceNotFoundException")
    assert is_permanent(missing)
    assert not policy.should_retry(missing, 1)


def test_delays_are_jittered_below_an_exponential_cap() -> None:
    policy = RetryPolicy(first_delay={"throttled": 0.1}, max_delay=1.0)
    rng = random.Random(1)
    for failures, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay("throttled", failures, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not a fixed step
        assert len(set(delays)) > 150
