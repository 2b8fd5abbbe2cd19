"""The AIMD concurrency limit, without any model (the retry policy: tests/test_retries.py)."""

from __future__ import annotations

import threading

import pytest

from chalicelib.evaluation.pacing import AdaptiveLimit


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
