"""The sliding window (pure): every chunk is sent exactly once and never more than k are out."""

from __future__ import annotations

import random

import pytest

from chalicelib.jobs.window import chunk_count, chunk_range, first_wave, successor


def test_chunk_ranges_cover_every_item_once() -> None:
    for total, size in [(1, 1), (98, 10), (100, 10), (101, 25), (7, 100)]:
        n = chunk_count(total, size)
        covered = [i for c in range(n) for i in chunk_range(c, total, size)]
        assert covered == list(range(total))
        assert all(len(chunk_range(c, total, size)) > 0 for c in range(n))


@pytest.mark.parametrize("k", [1, 2, 3, 7, 50])
@pytest.mark.parametrize("schedule", [list(range(23)), [2, 3, 5, 8, 13, 21], [4]])
def test_any_completion_order_sends_each_chunk_once_with_at_most_k_out(
    schedule: list[int], k: int
) -> None:
    rng = random.Random(k * 1000 + len(schedule))
    for _ in range(50):
        out = set(first_wave(schedule, k))
        sent = list(out)
        while out:
            assert len(out) <= k
            finished = rng.choice(sorted(out))  # any chunk in flight may finish next
            out.remove(finished)
            following = successor(schedule, finished, k)
            if following is not None:
                out.add(following)
                sent.append(following)
        assert sorted(sent) == sorted(schedule)


def test_a_chunk_outside_the_schedule_has_no_successor() -> None:
    assert successor([1, 4, 6], 5, 1) is None
    assert successor([1, 4, 6], 6, 1) is None
    assert successor([1, 4, 6], 1, 2) == 6
