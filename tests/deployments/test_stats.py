"""The compare statistics against scipy on many seeded random cases, ties and edge cases."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from scipy import stats as scipy_stats

from chalicelib.deployments.stats import agreement_rate, mann_whitney_u, two_proportion_z_test


def scipy_z_test(s_a: int, n_a: int, s_b: int, n_b: int) -> tuple[float, float]:
    table = [[s_a, n_a - s_a], [s_b, n_b - s_b]]
    chi2, p, _, _ = scipy_stats.chi2_contingency(table, correction=False)
    return math.sqrt(chi2), p


def test_z_test_matches_scipy_on_random_cases() -> None:
    rng = random.Random(13)
    for _ in range(500):
        n_a, n_b = rng.randint(1, 3000), rng.randint(1, 3000)
        s_a, s_b = rng.randint(0, n_a), rng.randint(0, n_b)
        if s_a + s_b in (0, n_a + n_b):
            continue  # degenerate: below
        result = two_proportion_z_test(s_a, n_a, s_b, n_b)
        assert result is not None
        z, p = scipy_z_test(s_a, n_a, s_b, n_b)
        assert abs(result.statistic) == pytest.approx(z, rel=1e-9, abs=1e-12)
        assert result.statistic * (s_a / n_a - s_b / n_b) >= 0  # positive when a is higher
        assert result.p_value == pytest.approx(p, rel=1e-7, abs=1e-15)


def test_z_test_degenerate_cases() -> None:
    assert two_proportion_z_test(0, 0, 3, 10) is None
    assert two_proportion_z_test(3, 10, 0, 0) is None
    for s_a, n_a, s_b, n_b in ((0, 5, 0, 7), (5, 5, 7, 7)):
        result = two_proportion_z_test(s_a, n_a, s_b, n_b)
        assert result is not None and (result.statistic, result.p_value) == (0.0, 1.0)
    small = two_proportion_z_test(1, 1, 0, 1)  # tiny samples: still the pooled test
    assert small is not None
    assert small.p_value == pytest.approx(scipy_z_test(1, 1, 0, 1)[1])
    with pytest.raises(ValueError):
        two_proportion_z_test(6, 5, 0, 5)


def assert_mwu_matches(a: list[float], b: list[float]) -> None:
    expected = scipy_stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=True)
    for got in (mann_whitney_u(a, b), mann_whitney_u(Counter(a), Counter(b))):
        assert got is not None
        assert got.statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-9)
        if math.isnan(expected.pvalue):  # scipy's all-equal case: 0/0 in its z
            assert got.p_value == 1.0
        else:
            assert got.p_value == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-15)


def test_mann_whitney_matches_scipy_on_ratings() -> None:
    rng = random.Random(7)
    for _ in range(400):
        n_a, n_b = rng.randint(1, 200), rng.randint(1, 200)
        wa = [rng.random() for _ in range(5)]
        wb = [rng.random() for _ in range(5)]
        a = [float(x) for x in rng.choices(range(1, 6), weights=wa, k=n_a)]
        b = [float(x) for x in rng.choices(range(1, 6), weights=wb, k=n_b)]
        assert_mwu_matches(a, b)


def test_mann_whitney_matches_scipy_on_continuous_and_tiny_samples() -> None:
    rng = random.Random(11)
    for _ in range(300):
        n_a, n_b = rng.randint(1, 6), rng.randint(1, 60)
        a = [round(rng.gauss(0, 1), rng.choice([0, 1, 6])) for _ in range(n_a)]
        b = [round(rng.gauss(0.3, 1), rng.choice([0, 1, 6])) for _ in range(n_b)]
        if len(set(a) | set(b)) == 1:
            continue
        assert_mwu_matches(a, b)
        assert_mwu_matches(b, a)


def test_mann_whitney_edge_cases() -> None:
    assert mann_whitney_u([], [1.0]) is None
    assert mann_whitney_u({4.0: 3}, {}) is None
    same = mann_whitney_u([3.0] * 5, [3.0] * 8)  # every rank tied: nothing to tell apart
    assert same is not None and same.p_value == 1.0 and same.statistic == 20.0
    assert_mwu_matches([1.0], [2.0])
    assert_mwu_matches([5.0, 5.0], [1.0, 1.0, 1.0])
    assert mann_whitney_u({1.0: 0, 2.0: 2}, {2.0: 1, 3.0: 1}) == mann_whitney_u([2, 2], [2, 3])
    with pytest.raises(ValueError):
        mann_whitney_u({1.0: -1}, {2.0: 1})


def test_agreement_rate() -> None:
    assert agreement_rate(0, 0) is None
    assert agreement_rate(3, 4) == 0.75
    with pytest.raises(ValueError):
        agreement_rate(5, 4)
