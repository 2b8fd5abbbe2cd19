"""compare's per-version statistics from invocation and feedback records, checked against numpy
and scipy; feedback mapped to versions; shadow agreement; merging; bounded memory."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from chalicelib.deployments.compare import VersionTally, WindowComparison
from chalicelib.storage.feedback import FeedbackRecord
from chalicelib.storage.invocations import InvocationRecord

START = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class VersionedFeedback(FeedbackRecord):
    """A feedback record as the registry's branch writes it (with the version that answered)."""

    version: int | None = None


def invocation(i: int, version: int | None, **changes: Any) -> InvocationRecord:
    values: dict[str, Any] = {
        "invocation_id": f"inv-{i}",
        "model": "drug-review-sentiment",
        "created_at": (START + timedelta(seconds=i)).isoformat(),
        "latency_ms": 100.0,
        "model_latency_ms": 90.0,
        "status": "ok",
        "input_sha256": "ab" * 32,
        "prediction": "positive",
        "version": version,
    }
    return InvocationRecord(**{**values, **changes})


def feedback(invocation_id: str, version: int | None, **changes: Any) -> FeedbackRecord:
    values: dict[str, Any] = {
        "invocation_id": invocation_id,
        "model": "drug-review-sentiment",
        "updated_at": START.isoformat(),
    }
    if version is None:
        return FeedbackRecord(**{**values, **changes})
    return VersionedFeedback(**{**values, **changes}, version=version)


def test_per_version_statistics_match_numpy_and_scipy() -> None:
    rng = random.Random(5)
    records, feedbacks = [], []
    expected: dict[int, dict[str, list[Any]]] = {
        v: {"latency": [], "status": [], "ratings": [], "thumbs": []} for v in (1, 2)
    }
    for i in range(4000):
        version = 2 if rng.random() < 0.1 else 1
        status = rng.choices(["ok", "invalid", "error"], weights=[90, 7 if version == 2 else 3, 1])[
            0
        ]
        latency = rng.lognormvariate(5.5 if version == 1 else 5.8, 0.4)
        records.append(invocation(i, version, status=status, latency_ms=latency))
        seen = expected[version]
        seen["latency"].append(latency)
        seen["status"].append(status)
        if status == "ok" and rng.random() < 0.3:
            rating = rng.choices(range(1, 6), weights=[1, 1, 2, 4, 4 if version == 1 else 2])[0]
            thumbs = rng.choice(["up", "up", "down", None] if version == 1 else ["up", "down"])
            feedbacks.append(feedback(f"inv-{i}", version, rating=rating, thumbs=thumbs))
            seen["ratings"].append(rating)
            seen["thumbs"].append(thumbs)
    window = WindowComparison()
    window.add_feedbacks(feedbacks)
    window.add_invocations(records)
    window.finish()
    result = window.result(champion=1)
    by_version = {v["version"]: v for v in result["versions"]}
    assert [v["role"] for v in result["versions"]] == ["champion", "served"]
    for version, seen in expected.items():
        got = by_version[version]
        assert got["invocations"] == len(seen["status"])
        answered = [s for s in seen["status"] if s != "error"]
        assert got["invalid_rate"] == answered.count("invalid") / len(answered)
        for name, q in (("p50", 50), ("p99", 99)):
            exact = float(np.percentile(seen["latency"], q))
            assert got["latency_ms"][name] == pytest.approx(exact, rel=0.0101)  # sketch: 0.5%
        assert got["feedback"]["count"] == len(seen["ratings"])
        assert got["feedback"]["mean_rating"] == pytest.approx(np.mean(seen["ratings"]))
        up, down = seen["thumbs"].count("up"), seen["thumbs"].count("down")
        assert got["feedback"]["thumbs_up_rate"] == up / (up + down)
    challenger = by_version[2]["against_champion"]
    one, two = expected[1], expected[2]
    rating_test = scipy_stats.mannwhitneyu(
        two["ratings"], one["ratings"], method="asymptotic", use_continuity=True
    )
    assert challenger["rating"]["u"] == rating_test.statistic
    assert challenger["rating"]["p_value"] == pytest.approx(rating_test.pvalue, rel=1e-9)
    table = [[t["thumbs"].count(k) for k in ("up", "down")] for t in (two, one)]
    chi2, p, _, _ = scipy_stats.chi2_contingency(table, correction=False)
    assert challenger["thumbs_up_rate"]["p_value"] == pytest.approx(p, rel=1e-9)
    assert challenger["thumbs_up_rate"]["z"] ** 2 == pytest.approx(chi2)
    assert challenger["thumbs_up_rate"]["difference"] == pytest.approx(
        table[0][0] / sum(table[0]) - table[1][0] / sum(table[1])
    )
    assert "against_champion" not in by_version[1]


def test_feedback_without_a_version_follows_its_invocation() -> None:
    records = [invocation(i, 1 + i % 2) for i in range(10)]
    before_window = invocation(-50, 2)  # rated in the window, invoked before it
    window = WindowComparison()
    window.add_feedbacks(
        [feedback("inv-1", None, rating=5), feedback("inv-2", None, thumbs="up")]
        + [feedback("inv--50", None, rating=1), feedback("unknown", None, rating=3)]
    )
    window.add_invocations(records)
    assert window.held > 0
    window.finish(lambda ids: {i: before_window for i in ids if i == "inv--50"})
    assert window.held == 0
    versions = {v["version"]: v["feedback"] for v in window.result(1)["versions"]}
    assert versions[2]["count"] == 2 and versions[2]["mean_rating"] == 3.0  # 5 and 1
    assert versions[1]["count"] == 1 and versions[1]["thumbs_up_rate"] == 1.0


def test_records_without_a_version_count_as_the_seed_version() -> None:
    window = WindowComparison()
    window.add_invocations([invocation(0, None), invocation(1, 1)])
    (only,) = window.result(1)["versions"]
    assert (only["version"], only["invocations"]) == (1, 2)


def test_shadow_agreement_with_the_served_answer() -> None:
    served = [
        invocation(i, 1 if i % 10 else 2, prediction=["positive", "negative"][i % 2])
        for i in range(100)
    ]
    shadows = []
    for i, r in enumerate(served):
        prediction = r.prediction if i % 4 else "neutral"  # disagrees on every 4th
        shadows.append(
            invocation(
                1000 + i,
                3,
                shadow_of=r.invocation_id,
                prediction=prediction,
                created_at=r.created_at,
                latency_ms=900.0,
            )
        )
    shadows[1] = invocation(1001, 3, shadow_of="inv-1", status="error", prediction=None)
    shadows[2] = invocation(1002, 3, shadow_of="inv-2", status="invalid", prediction=None)
    served[2] = invocation(2, 1, status="invalid", prediction=None)  # both invalid: agree
    window = WindowComparison()
    # A shadow copy before its served record (same second), and the rest after theirs.
    interleaved = [x for pair in zip(served, shadows, strict=True) for x in pair]
    window.add_invocations([shadows[0], served[0], *interleaved[2:]])
    window.finish()
    result = window.result(champion=1)
    roles = [(v["version"], v["role"]) for v in result["versions"]]
    assert roles == [(1, "champion"), (2, "served"), (3, "shadow")]
    shadow = result["versions"][2]
    assert shadow["invocations"] == 100 and shadow["errors"] == 1
    assert shadow["shadow"]["pairs"] == 99
    disagreements = len([i for i in range(100) if i % 4 == 0])
    assert shadow["shadow"]["agreement_rate"] == (99 - disagreements) / 99
    assert shadow["latency_ms"]["p50"] == pytest.approx(900.0, rel=0.005)
    assert shadow["against_champion"]["latency_p50_ms"] > 700


def test_a_shadow_beyond_the_horizon_is_paired_through_the_lookup() -> None:
    first = invocation(0, 1)
    late = [invocation(i, 1) for i in range(1, 4000, 10)]  # an hour of served records
    shadow = invocation(5000, 2, shadow_of="inv-0", created_at=late[-1].created_at)
    window = WindowComparison()
    window.add_invocations([first, *late, shadow])
    assert window.held < 100  # the served predictions of the last 15 minutes, not the hour's
    window.finish(lambda ids: {"inv-0": first} if ids == ["inv-0"] else {})
    (shadowed,) = [v for v in window.result(1)["versions"] if v["role"] == "shadow"]
    assert shadowed["shadow"] == {"pairs": 1, "agreement_rate": 1.0}


def test_tallies_merge_to_one_pass() -> None:
    rng = random.Random(9)
    records = [
        invocation(i, 1, latency_ms=rng.uniform(10, 900), status=rng.choice(["ok", "invalid"]))
        for i in range(600)
    ]
    rated = [
        feedback(r.invocation_id, 1, rating=rng.randint(1, 5), thumbs="up") for r in records[:90]
    ]
    whole = WindowComparison()
    whole.add_feedbacks(rated)
    whole.add_invocations(records)
    parts = []
    for chunk in (slice(0, 250), slice(250, 600)):
        part = WindowComparison()
        part.add_feedbacks([f for f in rated if int(f.invocation_id[4:]) in range(600)[chunk]])
        part.add_invocations(records[chunk])
        parts.append(part.tallies[(1, False)])
    merged = VersionTally.from_state(parts[1].to_state()).merge(parts[0])
    assert merged.to_state() == whole.tallies[(1, False)].to_state()
    assert merged.summary() == whole.tallies[(1, False)].summary()


def test_empty_window_and_missing_champion() -> None:
    assert WindowComparison().result(1) == {"champion": 1, "versions": []}
    window = WindowComparison()
    window.add_invocations([invocation(0, 2)])
    (only,) = window.result(1)["versions"]
    assert only["against_champion"]["thumbs_up_rate"]["p_value"] is None
    assert only["against_champion"]["rating"]["p_value"] is None
    assert only["against_champion"]["invalid_rate"] is None
