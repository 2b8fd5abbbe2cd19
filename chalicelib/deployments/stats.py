"""Tests that compare model versions in production: two-proportion z-test (thumbs-up rates),
Mann-Whitney U (ratings), agreement rate (shadow answers). Standard library only (ships to Lambda);
checked against scipy in tests/deployments/test_stats.py.

Both tests take counts, not raw samples, so the caller can aggregate a window of any size in
constant memory (ratings are a handful of distinct values) and merge windows by adding counts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def normal_two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z (``2 * scipy.stats.norm.sf(abs(z))``)."""
    return math.erfc(abs(z) / math.sqrt(2.0))


@dataclass(frozen=True)
class TestResult:
    statistic: float
    p_value: float


def two_proportion_z_test(
    successes_a: int, n_a: int, successes_b: int, n_b: int
) -> TestResult | None:
    """Pooled two-proportion z-test of p_a = p_b, two-sided; z is positive when a's rate is higher.

    Equals ``scipy.stats.chi2_contingency([[s_a, n_a - s_a], [s_b, n_b - s_b]],
    correction=False)`` (z² is that chi-square). Degenerate cases: None when either group is
    empty (no rate to compare); z = 0, p = 1 when the pooled rate is 0 or 1 (both groups all
    failures or all successes: identical rates, no evidence of a difference).
    """
    if min(successes_a, successes_b) < 0 or successes_a > n_a or successes_b > n_b:
        raise ValueError("successes must be within 0..n")
    if n_a == 0 or n_b == 0:
        return None
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0.0:
        return TestResult(0.0, 1.0)
    z = (successes_a / n_a - successes_b / n_b) / math.sqrt(variance)
    return TestResult(z, normal_two_sided_p(z))


def mann_whitney_u(
    a: Mapping[float, int] | Iterable[float], b: Mapping[float, int] | Iterable[float]
) -> TestResult | None:
    """Mann-Whitney U test, two-sided; `statistic` is U of sample a (a's wins + half its ties).

    Samples are value→count mappings or plain iterables. Matches
    ``scipy.stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=True)``: the normal
    approximation with tie correction and continuity correction. Asymptotic because ratings are
    1–5: almost every value is tied, and the exact distribution of U holds only without ties
    (scipy itself falls back to the normal approximation then); with the samples compare sees
    (tens to thousands of ratings) the approximation is also accurate.

    None when either sample is empty; p = 1 when every value in both samples is equal (no
    variance in the ranks: nothing to tell apart).
    """
    count_a = _counts(a)
    count_b = _counts(b)
    n_a, n_b = sum(count_a.values()), sum(count_b.values())
    if n_a == 0 or n_b == 0:
        return None
    n = n_a + n_b
    rank_sum_a = 0.0
    ties = 0  # sum of t^3 - t over tie groups
    below = 0
    for value in sorted(set(count_a) | set(count_b)):
        in_a, t = count_a.get(value, 0), count_a.get(value, 0) + count_b.get(value, 0)
        rank_sum_a += in_a * (below + (t + 1) / 2.0)  # midrank of the tie group
        ties += t * t * t - t
        below += t
    u_a = rank_sum_a - n_a * (n_a + 1) / 2.0
    mean = n_a * n_b / 2.0
    variance = n_a * n_b / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0.0:
        return TestResult(u_a, 1.0)
    u = max(u_a, n_a * n_b - u_a)
    z = (u - mean - 0.5) / math.sqrt(variance)  # z < 0 only when U is at its mean: p = 1
    return TestResult(u_a, min(1.0, math.erfc(z / math.sqrt(2.0))))


def _counts(sample: Mapping[float, int] | Iterable[float]) -> Mapping[float, int]:
    if isinstance(sample, Mapping):
        if any(c < 0 for c in sample.values()):
            raise ValueError("counts cannot be negative")
        return {v: c for v, c in sample.items() if c}
    return Counter(sample)


def agreement_rate(agreements: int, n: int) -> float | None:
    """Share of paired answers that agree; None without pairs."""
    if not 0 <= agreements <= n:
        raise ValueError("agreements must be within 0..n")
    return agreements / n if n else None
