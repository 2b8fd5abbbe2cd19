"""Split sizes: per label within one row of its quota, totals right, small labels everywhere."""

from __future__ import annotations

import random

import pytest

from chalicelib.dataprep.split import allocate, apportion


def test_apportion_is_largest_remainder() -> None:
    assert apportion(979, [0.8, 0.1, 0.1]) == [783, 98, 98]
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(0, [0.5, 0.5]) == [0, 0]


@pytest.mark.parametrize("seed", range(5))
def test_random_tables_keep_every_promise(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        sizes = [rng.randint(1, 80) for _ in range(rng.randint(1, 9))]
        cut = sorted([rng.random(), rng.random()])
        ratios = [max(cut[0], 0.05), cut[1] - cut[0], 1 - cut[1]]
        ratios = [r / sum(ratios) for r in ratios]
        table = allocate(sizes, ratios)
        active = [r > 0 for r in ratios]
        for row, size in zip(table, sizes, strict=True):
            assert sum(row) == size
            assert all(count >= 0 for count in row)
            if size >= 3:
                assert all(count >= 1 for count, on in zip(row, active, strict=True) if on)
            if all(size * r >= 1 for r in ratios):  # no small-label adjustment needed
                assert all(abs(c - size * r) < 1 for c, r in zip(row, ratios, strict=True))
        if all(s * r >= 1 for s in sizes for r in ratios):
            totals = [sum(row[i] for row in table) for i in range(3)]
            assert all(abs(t - sum(sizes) * r) < 1 for t, r in zip(totals, ratios, strict=True))
