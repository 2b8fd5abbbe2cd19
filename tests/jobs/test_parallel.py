"""The planner's and finaliser's S3 round trips overlap (jobs/parallel.py): results in order,
bounded look-ahead, the first error raised, nothing started after an early close."""

from __future__ import annotations

import threading

import pytest

from chalicelib.jobs.parallel import ordered_map


def test_results_come_in_order_from_calls_in_flight_together() -> None:
    # Four calls that can only finish together: a one-at-a-time map would break the barrier.
    barrier = threading.Barrier(4, timeout=10)

    def call(n: int) -> int:
        if n < 4:
            barrier.wait()
        return n * n

    assert list(ordered_map(call, range(20), threads=4)) == [n * n for n in range(20)]


def test_look_ahead_is_bounded_and_an_early_close_starts_nothing_more() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def call(n: int) -> int:
        with lock:
            started.append(n)
        return n

    results = ordered_map(call, range(1000), threads=2)
    assert next(results) == 0
    results.close()
    assert len(started) <= 2 * 2 + 1  # never the whole input


def test_the_first_error_in_item_order_is_raised() -> None:
    def call(n: int) -> int:
        if n in (3, 5):
            raise ValueError(n)
        return n

    results = ordered_map(call, range(10), threads=4)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="3"):
        next(results)
