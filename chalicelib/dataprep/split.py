"""Stratified split sizes: how many rows of each label go to train, validation and test.

Pure arithmetic, no rows: every label is split by the ratios to within one row, the split
totals are the rounded overall shares, and a label with at least three rows gets a row in
every split whose ratio is not zero.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from chalicelib.dataprep.errors import DataError

SPLITS = ("train", "validation", "test")
_EPS = 1e-9


def parse_ratios(text: str) -> tuple[float, float, float]:
    """'0.8,0.1,0.1' -> (0.8, 0.1, 0.1); three non-negative numbers summing to 1, train above 0."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise DataError(f"--split {text!r}: expected three numbers like 0.8,0.1,0.1") from None
    if len(values) != 3:
        raise DataError(f"--split {text!r}: expected three ratios (train,validation,test)")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise DataError(f"--split {text!r}: ratios must be finite and not negative")
    if abs(sum(values) - 1.0) > 1e-6:
        raise DataError(
            f"--split {text!r}: ratios must add up to 1 (they add up to {sum(values):g})"
        )
    if values[0] <= 0:
        raise DataError(f"--split {text!r}: the train ratio must be above 0")
    return values[0], values[1], values[2]


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Largest-remainder rounding of `total` in proportion to `weights` (ties go to the first)."""
    weight_sum = sum(weights)
    quotas = [total * w / weight_sum if weight_sum else 0.0 for w in weights]
    counts = [math.floor(q + _EPS) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def label_quotas(size: int, ratios: Sequence[float]) -> list[float]:
    """Fractional rows per split for one label, after reserving one row per active split."""
    active = [i for i, r in enumerate(ratios) if r > 0]
    quotas = [size * r for r in ratios]
    if size < 3 or size < len(active):
        return quotas
    fixed: set[int] = set()
    while True:
        newly = {i for i in active if i not in fixed and quotas[i] < 1 - _EPS}
        free = [i for i in active if i not in fixed and i not in newly]
        if not newly or not free:
            return quotas
        fixed |= newly
        free_ratio = sum(ratios[i] for i in free)
        rest = size - len(fixed)
        quotas = [
            1.0 if i in fixed else (rest * ratios[i] / free_ratio if i in free else 0.0)
            for i in range(len(ratios))
        ]


def allocate(sizes: Sequence[int], ratios: Sequence[float]) -> list[list[int]]:
    """Rows per (label, split): each cell the floor or ceiling of its quota, rows summing to
    the label's size and columns to the rounded split totals (controlled rounding by max-flow).
    """
    quotas = [[round(q, 9) for q in label_quotas(n, ratios)] for n in sizes]
    splits = range(len(ratios))
    counts = [[math.floor(q) for q in row] for row in quotas]
    column_quotas = [sum(row[s] for row in quotas) for s in splits]
    targets = apportion(sum(sizes), column_quotas)
    need_row = [n - sum(row) for n, row in zip(sizes, counts, strict=True)]
    need_col = [targets[s] - sum(row[s] for row in counts) for s in splits]
    can = [[q - math.floor(q) > _EPS for q in row] for row in quotas]
    raised = [[False] * len(ratios) for _ in sizes]
    # Greedy first (largest fractions), then augmenting paths fix what greed got wrong.
    cells = sorted(
        (
            (quotas[li][s] - counts[li][s], li, s)
            for li in range(len(sizes))
            for s in splits
            if can[li][s]
        ),
        key=lambda cell: (-cell[0], cell[1], cell[2]),
    )
    for _, li, s in cells:
        if need_row[li] > 0 and need_col[s] > 0:
            raised[li][s] = True
            need_row[li] -= 1
            need_col[s] -= 1
    while sum(need_row) > 0 and _augment(can, raised, need_row, need_col):
        pass
    for li, row in enumerate(raised):  # only if no exact solution exists: stay within one row
        for s in sorted(splits, key=lambda s: -(quotas[li][s] - counts[li][s])):
            if need_row[li] > 0 and can[li][s] and not row[s]:
                row[s] = True
                need_row[li] -= 1
    return [
        [c + int(up) for c, up in zip(row, ups, strict=True)]
        for row, ups in zip(counts, raised, strict=True)
    ]


def _augment(
    can: list[list[bool]], raised: list[list[bool]], need_row: list[int], need_col: list[int]
) -> bool:
    """One augmenting path from a label still owed a row to a split still owed one."""
    labels = len(can)
    width = len(need_col)
    parent: dict[tuple[str, int], tuple[str, int] | None] = {}
    queue: deque[tuple[str, int]] = deque()
    for li in range(labels):
        if need_row[li] > 0:
            parent[("li", li)] = None
            queue.append(("li", li))
    while queue:
        kind, i = queue.popleft()
        if kind == "li":
            for s in range(width):
                if can[i][s] and not raised[i][s] and ("s", s) not in parent:
                    parent[("s", s)] = (kind, i)
                    if need_col[s] > 0:
                        _flip(parent, ("s", s), raised, need_row, need_col)
                        return True
                    queue.append(("s", s))
        else:
            for li in range(labels):
                if raised[li][i] and ("li", li) not in parent:
                    parent[("li", li)] = (kind, i)
                    queue.append(("li", li))
    return False


def _flip(
    parent: dict[tuple[str, int], tuple[str, int] | None],
    end: tuple[str, int],
    raised: list[list[bool]],
    need_row: list[int],
    need_col: list[int],
) -> None:
    need_col[end[1]] -= 1
    node: tuple[str, int] | None = end
    while node is not None:
        previous = parent[node]
        if previous is None:
            need_row[node[1]] -= 1
        elif node[0] == "s":
            raised[previous[1]][node[1]] = True
        else:
            raised[node[1]][previous[1]] = False
        node = previous
