"""The sliding window over a round's chunks, as pure functions.

A round runs `schedule` (chunk numbers, in order). Its first `k` chunks are sent when the round
starts; committing the chunk at position p sends the one at position p + k. Every sent chunk
other than the first k is the successor of exactly one committed chunk, so at most k chunks of a
job are queued or running at any time, whatever the order in which chunks finish.
"""

from __future__ import annotations

from collections.abc import Sequence


def chunk_count(total: int, chunk_size: int) -> int:
    return -(-total // chunk_size)


def chunk_range(chunk: int, total: int, chunk_size: int) -> range:
    """The item indexes of `chunk` (items are numbered 0..total-1 in dataset order)."""
    return range(chunk * chunk_size, min((chunk + 1) * chunk_size, total))


def first_wave(schedule: Sequence[int], k: int) -> list[int]:
    return list(schedule[:k])


def successor(schedule: Sequence[int], chunk: int, k: int) -> int | None:
    """The chunk whose message the commit of `chunk` sends, if any."""
    try:
        position = schedule.index(chunk)
    except ValueError:
        return None
    after = position + k
    return schedule[after] if after < len(schedule) else None
