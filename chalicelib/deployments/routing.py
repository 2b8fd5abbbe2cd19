"""Traffic splits, pure: which version answers a request, and whether a routing is valid.

A routing key hashes (sha256 of alias and key) to a bucket in [0, 10000) laid over the routes'
cumulative weights, so the same key stays on its version while the routing is unchanged, and a
weight change moves only the keys whose bucket changes hands. Without a key the bucket is random.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Any

BUCKETS = 10_000
#: Buckets per weight point (weights are integer percentages).
_PER_POINT = BUCKETS // 100


def bucket(alias: str, routing_key: str) -> int:
    digest = hashlib.sha256(f"{alias}\x00{routing_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def choose(
    alias: str,
    routes: Sequence[dict[str, int]],
    routing_key: str | None = None,
    rand: Callable[[], float] = random.random,
) -> int:
    """The version of `routes` ([{version, weight}], weights summing to 100) for this request."""
    point = bucket(alias, routing_key) if routing_key is not None else int(rand() * BUCKETS)
    cumulative = 0
    for route in routes:
        cumulative += route["weight"] * _PER_POINT
        if point < cumulative:
            return route["version"]
    return routes[-1]["version"]


def champion(routes: Sequence[dict[str, int]]) -> int:
    """The version with the largest weight (the first of equals): what a bare alias means in an
    evaluation and what the promotion gate compares against."""
    return max(routes, key=lambda r: r["weight"])["version"]


def routing_problems(routes: Sequence[Any], shadow: Sequence[Any]) -> list[dict[str, str]]:
    """Each problem as a contract `details` entry (field path, reason); empty when valid.
    Types are the request model's job; this checks what only the whole routing can tell."""
    problems: list[dict[str, str]] = []
    if not routes:
        problems.append({"field": "routes", "reason": "at least one route is needed"})
    seen: set[int] = set()
    for i, route in enumerate(routes):
        if route["version"] in seen:
            problems.append({"field": f"routes.{i}.version", "reason": "listed twice"})
        seen.add(route["version"])
        if route["weight"] < 0 or route["weight"] > 100:
            problems.append({"field": f"routes.{i}.weight", "reason": "must be 0..100"})
    if routes and sum(r["weight"] for r in routes) != 100:
        problems.append({"field": "routes", "reason": "weights must sum to 100"})
    if routes and all(r["weight"] == 0 for r in routes):
        problems.append({"field": "routes", "reason": "some route needs a weight"})
    for i, version in enumerate(shadow):
        if version in seen:
            problems.append({"field": f"shadow.{i}", "reason": "also in routes"})
        if list(shadow).count(version) > 1:
            problems.append({"field": f"shadow.{i}", "reason": "listed twice"})
    return problems
