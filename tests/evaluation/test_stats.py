"""Statistical primitives: binomial sampler moments and fit, McNemar, exact sums, percentiles."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as scipy_stats

from chalicelib.evaluation.stats import (
    ExactSum,
    LatencySketch,
    binomial_greater_p,
    binomial_variate,
    mcnemar_exact_p,
    multinomial,
    percentile,
    stratified_f1_expectation,
)

DRAWS = 50_000


@pytest.mark.parametrize(
    ("n", "p"),
    [
        (1, 0.5),
        (5, 0.3),
        (40, 0.2),
        (20, 0.5),
        (100, 0.05),
        (30, 0.9),
        (60, 0.2),
        (1000, 0.3),
        (10**6, 0.01),
        (10**6, 0.5),
        (10**9, 0.999),
        (10**12, 1e-6),
    ],
)
def test_binomial_moments(n: int, p: float) -> None:
    rng = random.Random(n * 7919 + int(p * 1000))
    xs = [binomial_variate(rng, n, p) for _ in range(DRAWS)]
    assert all(0 <= x <= n for x in xs)
    mean, var = n * p, n * p * (1 - p)
    assert abs(np.mean(xs) - mean) < 5 * math.sqrt(var / DRAWS)
    # the sample variance's standard error is about var * sqrt(2 / DRAWS) for these shapes
    assert abs(np.var(xs, ddof=1) - var) < 6 * var * math.sqrt(2 / DRAWS) + 1e-9


@pytest.mark.parametrize(("n", "p"), [(40, 0.2), (200, 0.3), (1000, 0.75), (25, 0.5)])
def test_binomial_distribution_fits_exact_pmf(n: int, p: float) -> None:
    """Chi-square goodness of fit against the exact pmf, covering both algorithms."""
    rng = random.Random(11)
    counts = np.bincount([binomial_variate(rng, n, p) for _ in range(DRAWS)], minlength=n + 1)
    expected = scipy_stats.binom.pmf(np.arange(n + 1), n, p) * DRAWS
    keep = expected >= 5  # pool the thin tails into one bin
    observed = [*counts[keep], counts[~keep].sum()]
    wanted = [*expected[keep], DRAWS - expected[keep].sum()]
    assert scipy_stats.chisquare(observed, wanted).pvalue > 1e-4


def test_binomial_edges() -> None:
    rng = random.Random(0)
    assert binomial_variate(rng, 0, 0.3) == 0
    assert binomial_variate(rng, 10, 0.0) == 0
    assert binomial_variate(rng, 10, 1.0) == 10
    with pytest.raises(ValueError):
        binomial_variate(rng, -1, 0.5)
    with pytest.raises(ValueError):
        binomial_variate(rng, 5, 1.5)
    a = [binomial_variate(random.Random(9), 500, 0.4) for _ in range(3)]
    assert a == [binomial_variate(random.Random(9), 500, 0.4)] * 3


def test_multinomial_sums_to_n_and_has_the_right_means() -> None:
    rng = random.Random(5)
    weights = [50, 0, 30, 15, 5]
    draws = np.array([multinomial(rng, 1000, weights) for _ in range(5000)])
    assert (draws.sum(axis=1) == 1000).all()
    assert (draws[:, 1] == 0).all()
    for j, w in enumerate(weights):
        p = w / 100
        sd = math.sqrt(1000 * p * (1 - p) / len(draws))
        assert abs(draws[:, j].mean() - 1000 * p) <= 5 * sd + 1e-9


# ----------------------------------------------------------------------------- McNemar


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),
        (3, 3, 1.0),
        (2, 3, 1.0),
        (0, 5, 2 / 32),
        (5, 0, 2 / 32),
        (1, 9, 2 * (1 + 10) / 1024),
        (0, 1, 1.0),
        (2, 10, 2 * (1 + 12 + 66) / 4096),
    ],
)
def test_mcnemar_known_tables(b: int, c: int, p: float) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(p, rel=1e-15)


@pytest.mark.parametrize(
    ("b", "c"),
    [(b, c) for b in range(0, 31, 3) for c in range(0, 31, 4)]
    + [(900, 1000), (1500, 1700), (2400, 2600), (20_000, 20_500), (400_000, 401_500)],
)
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    if b + c == 0:
        assert mcnemar_exact_p(b, c) == 1.0
        return
    expected = scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-7, abs=1e-300)


@pytest.mark.parametrize(("b", "c"), [(2300, 2500), (1000, 1500), (0, 2600), (3000, 3001)])
def test_mcnemar_log_space_path_against_exact_integers(b: int, c: int) -> None:
    total, m = b + c, min(b, c)
    exact = min(Fraction(1), Fraction(2 * sum(math.comb(total, k) for k in range(m + 1)), 2**total))
    assert mcnemar_exact_p(b, c) == pytest.approx(float(exact), rel=1e-10)


def binomial_cases(count: int) -> list[tuple[int, int, int]]:
    """(k, n, majority count): random sizes from 1 to 10^6, k anywhere in 0..n."""
    rng = random.Random(9)
    cases = []
    for i in range(count):
        n = rng.randint(1, [30, 3000, 10**6][i % 3])
        m = rng.randint(1, n)
        k = rng.choice([rng.randint(0, n), round(m + rng.gauss(0, math.sqrt(n) * 2))])
        cases.append((min(max(k, 0), n), n, m))
    return cases + [(64, 98, 64), (98, 98, 64), (0, 98, 64), (5, 5, 5), (3, 5, 0)]


@pytest.mark.parametrize(("k", "n", "m"), binomial_cases(150))
def test_binomial_greater_matches_scipy_binomtest(k: int, n: int, m: int) -> None:
    expected = scipy_stats.binomtest(k, n, m / n, alternative="greater").pvalue
    assert binomial_greater_p(k, n, m / n) == pytest.approx(expected, rel=1e-7, abs=1e-15)


@pytest.mark.parametrize(
    ("n", "support"), [(2, 1), (3, 1), (10, 3), (98, 9), (98, 64), (500, 7), (1000, 999), (4000, 1)]
)
def test_stratified_f1_expectation_against_the_double_sum(n: int, support: int) -> None:
    """E[2TP / (support + TP + FP)] with TP ~ Bin(support, p), FP ~ Bin(n - support, p)."""
    p = support / n
    tp, fp = np.arange(support + 1), np.arange(n - support + 1)
    weights = np.outer(
        scipy_stats.binom.pmf(tp, support, p), scipy_stats.binom.pmf(fp, n - support, p)
    )
    expected = float((weights * 2 * tp[:, None] / (support + tp[:, None] + fp[None, :])).sum())
    assert stratified_f1_expectation(n, support) == pytest.approx(expected, rel=1e-10)


def test_stratified_f1_expectation_edges() -> None:
    assert stratified_f1_expectation(7, 7) == 1.0
    # huge n: the guess count concentrates at n·p, so E[F1] tends to p (2·p·n·p / 2·n·p)
    assert stratified_f1_expectation(10**9, 3 * 10**8) == pytest.approx(0.3, rel=1e-6)
    with pytest.raises(ValueError, match="support"):
        stratified_f1_expectation(5, 0)


# ----------------------------------------------------------------------------- sums, percentiles


def test_exact_sum_is_order_independent_and_round_trips() -> None:
    rng = random.Random(2)
    values = [rng.choice([1e300, -1e300, 1.0, 1e-320, 0.1, 123.456]) for _ in range(500)]
    truth = sum((Fraction(v) for v in values), Fraction(0))
    squares = sum((Fraction(v) ** 2 for v in values), Fraction(0))
    for _ in range(5):
        rng.shuffle(values)
        left, right, sq = ExactSum(), ExactSum(), ExactSum()
        for v in values[:200]:
            left.add(v)
        for v in values[200:]:
            right.add(v)
            sq.add_square(v)
        for v in values[:200]:
            sq.add_square(v)
        left.merge(ExactSum.from_state(json.loads(json.dumps(right.to_state()))))
        assert left.fraction() == truth and sq.fraction() == squares
    counted = ExactSum()
    counted.add(0.1, 7)
    assert counted.fraction() == 7 * Fraction(0.1)


def test_percentile_matches_numpy() -> None:
    rng = random.Random(4)
    for size in (1, 2, 3, 10, 999):
        xs = sorted(rng.uniform(-5, 5) for _ in range(size))
        for q in (0.0, 0.025, 0.5, 0.9, 0.975, 1.0):
            assert percentile(xs, q) == pytest.approx(np.percentile(xs, q * 100), rel=1e-12)


@pytest.mark.parametrize("size", [1, 2, 7, 100, 5000])
def test_latency_sketch_within_its_relative_error(size: int) -> None:
    rng = random.Random(size)
    xs = [0.0 if rng.random() < 0.02 else rng.lognormvariate(5, 1.5) for _ in range(size)]
    one, batch = LatencySketch(), LatencySketch()
    for x in xs:
        one.add(x)
    batch.add_many([*xs, None])
    assert one.to_state() == batch.to_state()
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        got = one.quantile(q)
        exact = float(np.percentile(xs, q * 100))
        assert got is not None
        assert abs(got - exact) <= LatencySketch.RELATIVE_ACCURACY * exact * (1 + 1e-9)
