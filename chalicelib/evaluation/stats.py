"""Statistical primitives of the metrics engine: exact mergeable sums, a latency sketch, an exact
binomial/multinomial sampler, percentiles, McNemar's exact test. Stdlib only (ships to Lambda)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from itertools import repeat
from operator import mul
from typing import Any, cast


class ExactSum:
    """A sum of floats kept exactly as ``num * 2**exp``.

    Float addition is not associative, so chunks merged in another grouping would differ in the
    last bits; an exact integer sum makes the merged result independent of order and grouping.
    """

    __slots__ = ("num", "exp")

    def __init__(self, num: int = 0, exp: int = 0) -> None:
        self.num = num
        self.exp = exp

    def _add(self, num: int, exp: int) -> None:
        if num == 0:
            return
        if exp < self.exp:
            self.num <<= self.exp - exp
            self.exp = exp
        self.num += num << (exp - self.exp)

    def add(self, x: float, count: int = 1) -> None:
        """Add ``count`` copies of ``x``."""
        p, q = x.as_integer_ratio()
        self._add(p * count, 1 - q.bit_length())

    def add_square(self, x: float, count: int = 1) -> None:
        """Add ``count`` copies of ``x*x``, computed exactly."""
        p, q = x.as_integer_ratio()
        self._add(p * p * count, 2 * (1 - q.bit_length()))

    def merge(self, other: ExactSum) -> None:
        self._add(other.num, other.exp)

    def fraction(self) -> Fraction:
        return (
            Fraction(self.num, 1 << -self.exp) if self.exp < 0 else Fraction(self.num << self.exp)
        )

    def to_state(self) -> list[Any]:
        """Canonical form: as few trailing zero bits as possible; the integer as a string because
        it may exceed what JSON consumers (or DynamoDB numbers) hold."""
        num, exp = self.num, self.exp
        if num == 0:
            return ["0", 0]
        shift = min((num & -num).bit_length() - 1, -exp)
        return [str(num >> shift), exp + shift]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> ExactSum:
        return cls(int(state[0]), int(state[1]))


class LatencySketch:
    """Mergeable log-bucketed histogram (DDSketch-style) for latency percentiles.

    Bucket ``i`` holds values in ``(g**(i-1), g**i]`` with ``g = (1+a)/(1-a)`` and reports
    ``2*g**i/(g+1)``, so every order statistic is returned within relative error ``a`` (0.5%).
    Memory is one counter per occupied bucket: about 870 buckets span 10 ms to 10 min.
    """

    RELATIVE_ACCURACY = 0.005
    _GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
    _LOG_GAMMA = math.log(_GAMMA)
    _INV_LOG_GAMMA = 1.0 / _LOG_GAMMA

    __slots__ = ("buckets", "zeros")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.zeros = 0

    @property
    def count(self) -> int:
        return self.zeros + sum(self.buckets.values())

    def add(self, x: float) -> None:
        if x > 0:
            i = math.ceil(math.log(x) * self._INV_LOG_GAMMA)
            self.buckets[i] = self.buckets.get(i, 0) + 1
        elif x == 0:
            self.zeros += 1
        else:
            raise ValueError(f"a latency cannot be negative or NaN: {x!r}")

    def add_many(self, values: Sequence[float | None]) -> None:
        """Batch form of `add` (skipping None) whose loops run in C; same buckets as `add`."""
        xs = cast(
            Sequence[float], [x for x in values if x is not None] if None in values else values
        )
        if not xs:
            return
        low = min(xs)
        if not low > 0:
            if low < 0 or low != low:
                raise ValueError(f"a latency cannot be negative or NaN: {low!r}")
            self.zeros += xs.count(0)
            xs = [x for x in xs if x > 0]
        counts = Counter(map(math.ceil, map(mul, map(math.log, xs), repeat(self._INV_LOG_GAMMA))))
        buckets = self.buckets
        for i, c in counts.items():
            buckets[i] = buckets.get(i, 0) + c

    def merge(self, other: LatencySketch) -> None:
        self.zeros += other.zeros
        for i, c in other.buckets.items():
            self.buckets[i] = self.buckets.get(i, 0) + c

    def _value_at_ranks(self, ranks: Sequence[int]) -> list[float]:
        """Estimated order statistics for 0-based, ascending ranks."""
        out: list[float] = []
        pending = iter(ranks)
        rank = next(pending, None)
        seen = self.zeros
        while rank is not None and rank < seen:
            out.append(0.0)
            rank = next(pending, None)
        for i in sorted(self.buckets):
            seen += self.buckets[i]
            while rank is not None and rank < seen:
                out.append(2.0 * math.exp(i * self._LOG_GAMMA) / (self._GAMMA + 1.0))
                rank = next(pending, None)
        return out

    def quantile(self, q: float) -> float | None:
        """Linear interpolation between order statistics (numpy's default method)."""
        n = self.count
        if n == 0:
            return None
        pos = q * (n - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        v_lo, v_hi = self._value_at_ranks([lo, hi])
        return v_lo + (pos - lo) * (v_hi - v_lo)

    def to_state(self) -> dict[str, Any]:
        return {
            "relative_accuracy": self.RELATIVE_ACCURACY,
            "zeros": self.zeros,
            "buckets": [[i, self.buckets[i]] for i in sorted(self.buckets)],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LatencySketch:
        if state["relative_accuracy"] != cls.RELATIVE_ACCURACY:
            raise ValueError("latency sketch made with another bucket width cannot be merged")
        sketch = cls()
        sketch.zeros = int(state["zeros"])
        sketch.buckets = {int(i): int(c) for i, c in state["buckets"]}
        return sketch


def binomial_variate(rng: random.Random, n: int, p: float) -> int:
    """An exact Binomial(n, p) draw: inversion when n·p < 10, else Hörmann's BTRS (1993).

    Python 3.12 has ``random.binomialvariate``; we run 3.11, hence our own.
    """
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial needs n >= 0 and 0 <= p <= 1, got n={n}, p={p}")
    if n == 0 or p == 0.0:
        return 0
    if p == 1.0:
        return n
    if p > 0.5:
        return n - _binomial_small_p(rng, n, 1.0 - p)
    return _binomial_small_p(rng, n, p)


def _binomial_small_p(rng: random.Random, n: int, p: float) -> int:
    if n * p < 10.0:
        return _binomial_inversion(rng, n, p)
    return _binomial_btrs(rng, n, p)


def _binomial_inversion(rng: random.Random, n: int, p: float) -> int:
    """Sequential search of the CDF; expected n·p + 1 steps. P(X=0) = q**n >= e**-15 here."""
    q = 1.0 - p
    s = p / q
    a = (n + 1) * s
    while True:
        r = q**n
        u = rng.random()
        x = 0
        while u > r:
            u -= r
            x += 1
            if x > n:  # rounding ate the last bit of mass: draw again
                break
            r *= a / x - s
        else:
            return x


def _binomial_btrs(rng: random.Random, n: int, p: float) -> int:
    """Transformed rejection with squeeze (Hörmann 1993, "BTRS"), for p <= 0.5 and n·p >= 10."""
    q = 1.0 - p
    spq = math.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    lpq = math.log(p / q)
    m = math.floor((n + 1) * p)
    h = math.lgamma(m + 1) + math.lgamma(n - m + 1)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        if us == 0.0:
            continue
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= v_r:
            return k
        if v == 0.0:
            return k  # log(0) = -inf is below any bound: accept
        v = math.log(v * alpha / (a / (us * us) + b))
        if v <= h - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - m) * lpq:
            return k


def multinomial(rng: random.Random, n: int, weights: Sequence[int]) -> list[int]:
    """A Multinomial(n, weights/sum) draw as a chain of conditional binomials.

    Resampling n items with replacement is exactly this draw over their distinct cells, so a
    bootstrap costs O(cells) per resample instead of O(n).
    """
    out: list[int] = []
    left_n = n
    left_w = sum(weights)
    for w in weights:
        if left_n == 0 or w == 0:
            x = 0
        elif w >= left_w:
            x = left_n
        else:
            x = binomial_variate(rng, left_n, w / left_w)
        out.append(x)
        left_n -= x
        left_w -= w
    return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default), ``0 <= q <= 1``."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])


_EXACT_MCNEMAR_LIMIT = 2000


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p: ``min(1, 2 * sum_{k<=min(b,c)} C(b+c,k) / 2**(b+c))``.

    Exact integers up to 2000 discordant items; beyond, the tail is summed in log space from its
    largest term down, so nothing overflows for any b+c.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    total, m = b + c, min(b, c)
    if total == 0 or 2 * m >= total:
        return 1.0
    if total <= _EXACT_MCNEMAR_LIMIT:
        tail = sum(math.comb(total, k) for k in range(m + 1))
        return min(1.0, float(Fraction(2 * tail, 1 << total)))
    log_top = (
        math.lgamma(total + 1)
        - math.lgamma(m + 1)
        - math.lgamma(total - m + 1)
        - total * math.log(2.0)
    )
    # terms relative to the largest one, C(N,k-1)/C(N,k) = k/(N-k+1) < 1 for k <= m < N/2
    rel_sum, term = 1.0, 1.0
    for k in range(m, 0, -1):
        term *= k / (total - k + 1)
        rel_sum += term
        if term < 1e-17 * rel_sum:
            break
    log_p = math.log(2.0) + log_top + math.log(rel_sum)
    return 1.0 if log_p >= 0.0 else math.exp(log_p)


def binomial_greater_p(k: int, n: int, p: float) -> float:
    """Exact one-sided binomial test, H1 "the success rate is greater than p": P(X >= k) for
    X ~ Binomial(n, p), as ``scipy.stats.binomtest(k, n, p, alternative="greater").pvalue``.

    The tail is summed in log space from its largest term outward (as `mcnemar_exact_p`), so
    nothing overflows for any n; when k is below the mean it is 1 - P(X <= k-1).
    """
    if not 0.0 <= p <= 1.0 or n < 0:
        raise ValueError(f"binomial test needs n >= 0 and 0 <= p <= 1, got n={n}, p={p}")
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p in (0.0, 1.0):
        return p
    if k > n * p:  # upper tail: terms fall from j = k upward
        return min(1.0, _binomial_run(n, p, k, 1))
    return max(0.0, 1.0 - _binomial_run(n, p, k - 1, -1))  # terms fall from k-1 downward


def _log_binomial_pmf(n: int, q: float, j: int) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(j + 1)
        - math.lgamma(n - j + 1)
        + j * math.log(q)
        + (n - j) * math.log1p(-q)
    )


def _binomial_run(n: int, q: float, start: int, step: int) -> float:
    """Sum of Binomial(n, q) probabilities from `start` in direction `step` (±1), for a start on
    the falling side of the mode, stopping once the terms no longer change the sum."""
    odds = q / (1.0 - q)
    rel_sum, term, j = 1.0, 1.0, start
    while 0 <= j + step <= n:
        term *= odds * (n - j) / (j + 1) if step > 0 else (j / (n - j + 1)) / odds
        j += step
        rel_sum += term
        if term < 1e-17 * rel_sum:
            break
    return math.exp(_log_binomial_pmf(n, q, start) + math.log(rel_sum))


def stratified_f1_expectation(n: int, support: int) -> float:
    """E[F1] of one class under stratified random guessing: each of n items is predicted as the
    class independently with probability p = support/n (scikit-learn's DummyClassifier
    "stratified" with the references' own frequencies).

    Exact, no simulation: with S ~ Binomial(n, p) items predicted as the class, the true
    positives given S = s are hypergeometric with mean s·p, and F1 = 2·TP/(support + S), so
    E[F1] = sum_s P(S = s) · 2·s·p / (support + s). The probabilities are taken relative to
    the mode's and divided by their own sum, so no factorial is evaluated; the sum runs outward
    from the mode until the remaining mass cannot matter (every term is below 1).
    """
    if not 0 < support <= n:
        raise ValueError(f"support must be in 1..n, got {support} of {n}")
    if support == n:
        return 1.0
    p = support / n
    mode = min(n, math.floor((n + 1) * p))
    odds = p / (1.0 - p)
    mass = 1.0
    total = 2.0 * mode * p / (support + mode)
    for step in (1, -1):
        weight, s = 1.0, mode
        while 0 <= s + step <= n:
            weight *= odds * (n - s) / (s + 1) if step > 0 else (s / (n - s + 1)) / odds
            s += step
            mass += weight
            total += weight * 2.0 * s * p / (support + s)
            if weight < 1e-18:
                break
    return total / mass
