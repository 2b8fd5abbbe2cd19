"""Overlapping a job step's S3 round trips: the planner writes a round's chunk inputs and the
finaliser reads the committed chunks one after another, and both run while no chunk does (before
the first, after the last), so their wall time is the job's."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Round trips in flight: S3 takes far more; the clients' connection pool holds 10.
IO_THREADS = 8


def ordered_map(
    function: Callable[[T], R], items: Iterable[T], threads: int = IO_THREADS
) -> Iterator[R]:
    """`function(item)` for every item on `threads` threads, yielded in the items' order.

    At most `2 x threads` calls are started ahead of the result being yielded, so memory does
    not grow with the number of items. The first exception is raised in item order; closing the
    iterator early cancels the calls not yet started."""
    ahead = 2 * threads
    pending: deque[Future[R]] = deque()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="job-io")
    try:
        for item in items:
            if len(pending) >= ahead:
                yield pending.popleft().result()
            pending.append(pool.submit(function, item))
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
