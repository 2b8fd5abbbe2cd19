"""Compare an alias's versions in production over a time window (CONTRACT section 7, `compare`):
per version, invocations, latency, invalid rate and feedback; against the champion, differences
with p-values (thumbs-up rate: two-proportion z-test; ratings: Mann-Whitney U); for shadow
versions, how often their prediction agrees with the answer served for the same request.

Memory does not grow with the window: each version keeps counts, a latency sketch and a rating
histogram (`VersionTally`, mergeable and JSON-serialisable). Only two things wait for a partner
record, both bounded by what is actually unpaired: feedback without a `version` (older records)
until its invocation passes, and shadow copies until their served invocation passes; served
predictions are kept for `SHADOW_HORIZON_SECONDS` behind the newest record (a shadow copy is
written seconds after its answer). `finish` resolves what is still waiting with one batched
lookup (`InvocationStore.get_many`), e.g. feedback on an invocation from before the window.

Feed feedback first, then invocations in `created_at` order (what `for_model` yields).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.deployments.stats import agreement_rate, mann_whitney_u, two_proportion_z_test
from chalicelib.evaluation.stats import LatencySketch
from chalicelib.storage.feedback import FeedbackRecord
from chalicelib.storage.invocations import InvocationRecord

SHADOW_HORIZON_SECONDS = 900.0
STATE_VERSION = 1
Answer = tuple[str, str | float]  # ("ok", prediction or output) | ("invalid", "")
_COUNTS = (
    "invocations",
    "errors",
    "invalid",
    "feedback",
    "thumbs_up",
    "thumbs_down",
    "pairs",
    "agreements",
)
Lookup = Callable[[list[str]], Mapping[str, InvocationRecord]]


@dataclass
class VersionTally:
    """Exact, mergeable sufficient statistics of one version's records (served or shadow)."""

    invocations: int = 0
    errors: int = 0
    invalid: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch)
    feedback: int = 0
    ratings: dict[int, int] = field(default_factory=dict)
    thumbs_up: int = 0
    thumbs_down: int = 0
    pairs: int = 0  # shadow only: copies paired with the served answer
    agreements: int = 0

    def add_invocation(self, record: InvocationRecord) -> None:
        self.invocations += 1
        self.errors += record.status == "error"
        self.invalid += record.status == "invalid"
        self.latency.add(record.latency_ms)

    def add_feedback(self, rating: int | None, thumbs: str | None) -> None:
        self.feedback += 1
        if rating is not None:
            self.ratings[rating] = self.ratings.get(rating, 0) + 1
        self.thumbs_up += thumbs == "up"
        self.thumbs_down += thumbs == "down"

    def merge(self, other: VersionTally) -> VersionTally:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency.merge(other.latency)
        for rating, count in other.ratings.items():
            self.ratings[rating] = self.ratings.get(rating, 0) + count
        return self

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "counts": [getattr(self, name) for name in _COUNTS],
            "latency": self.latency.to_state(),
            "ratings": [[r, self.ratings[r]] for r in sorted(self.ratings)],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> VersionTally:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported tally state version {state.get('version')!r}")
        counts = [int(c) for c in state["counts"]]
        tally = cls(latency=LatencySketch.from_state(state["latency"]))
        tally.ratings = {int(r): int(c) for r, c in state["ratings"]}
        for name, count in zip(_COUNTS, counts, strict=True):
            setattr(tally, name, count)
        return tally

    @property
    def answered(self) -> int:
        return self.invocations - self.errors

    def summary(self) -> dict[str, Any]:
        rated = sum(self.ratings.values())
        thumbs = self.thumbs_up + self.thumbs_down
        p50, p99 = (self.latency.quantile(q) for q in (0.5, 0.99))
        return {
            "invocations": self.invocations,
            "errors": self.errors,
            "invalid_rate": self.invalid / self.answered if self.answered else None,
            "latency_ms": {"p50": p50, "p99": p99},
            "feedback": {
                "count": self.feedback,
                "ratings": rated,
                "mean_rating": (
                    sum(r * c for r, c in self.ratings.items()) / rated if rated else None
                ),
                "thumbs_up": self.thumbs_up,
                "thumbs_down": self.thumbs_down,
                "thumbs_up_rate": self.thumbs_up / thumbs if thumbs else None,
            },
        }


TallyKey = tuple[int | None, bool]  # (version, shadow)


class WindowComparison:
    """One pass over a window's feedback, then its invocations; `result` compares the versions.

    `unversioned` is the version records without one are counted under (records written before
    versions existed were answered by the seed, version 1)."""

    def __init__(self, *, unversioned: int | None = 1) -> None:
        self.unversioned = unversioned
        self.tallies: dict[TallyKey, VersionTally] = {}
        self._feedback_waiting: dict[str, tuple[int | None, str | None]] = {}
        self._served: OrderedDict[str, tuple[datetime, Answer | None]] = OrderedDict()
        self._shadows_waiting: dict[str, list[tuple[int | None, Answer | None]]] = {}
        self._newest: datetime | None = None

    def _tally(self, version: int | None, shadow: bool) -> VersionTally:
        key = (self.unversioned if version is None else version, shadow)
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = VersionTally()
        return tally

    def add_feedback(self, record: FeedbackRecord) -> None:
        version: int | None = getattr(record, "version", None)
        if version is None:
            self._feedback_waiting[record.invocation_id] = (record.rating, record.thumbs)
        else:
            self._tally(version, False).add_feedback(record.rating, record.thumbs)

    def add_feedbacks(self, records: Iterable[FeedbackRecord]) -> None:
        for record in records:
            self.add_feedback(record)

    def add_invocation(self, record: InvocationRecord) -> None:
        shadow = record.shadow_of is not None
        self._tally(record.version, shadow).add_invocation(record)
        answer = _answer(record)
        if record.shadow_of is not None:
            served = self._served.get(record.shadow_of)
            if served is None:
                waiting = self._shadows_waiting.setdefault(record.shadow_of, [])
                waiting.append((record.version, answer))
            else:
                self._pair(record.version, answer, served[1])
            return
        waiting_feedback = self._feedback_waiting.pop(record.invocation_id, None)
        if waiting_feedback is not None:
            self._tally(record.version, False).add_feedback(*waiting_feedback)
        for version, shadow_answer in self._shadows_waiting.pop(record.invocation_id, []):
            self._pair(version, shadow_answer, answer)
        self._remember(record, answer)

    def add_invocations(self, records: Iterable[InvocationRecord]) -> None:
        for record in records:
            self.add_invocation(record)

    def _remember(self, record: InvocationRecord, answer: Answer | None) -> None:
        at = _moment(record.created_at)
        if self._newest is None or at > self._newest:
            self._newest = at
        self._served[record.invocation_id] = (at, answer)
        newest = self._newest
        while self._served:
            oldest = next(iter(self._served.values()))[0]
            if (newest - oldest).total_seconds() <= SHADOW_HORIZON_SECONDS:
                break
            self._served.popitem(last=False)

    def _pair(self, version: int | None, shadow: Answer | None, served: Answer | None) -> None:
        if shadow is None or served is None:
            return  # an error on either side: nothing to compare
        tally = self._tally(version, True)
        tally.pairs += 1
        tally.agreements += shadow == served

    @property
    def held(self) -> int:
        """Records held for pairing: bounded by the horizon and what is unpaired, not by the
        window."""
        waiting = sum(map(len, self._shadows_waiting.values()))
        return len(self._served) + len(self._feedback_waiting) + waiting

    def finish(self, lookup: Lookup | None = None) -> None:
        """Resolve what still waits for a record outside the window (or beyond the horizon)
        with one batched `lookup` of invocation ids (the store's `get_many`); without one,
        feedback of an unknown version is left out and such shadow copies stay unpaired."""
        ids = sorted(set(self._feedback_waiting) | set(self._shadows_waiting))
        found = lookup(ids) if lookup is not None and ids else {}
        for invocation_id, (rating, thumbs) in self._feedback_waiting.items():
            if invocation_id in found:
                self._tally(found[invocation_id].version, False).add_feedback(rating, thumbs)
        for invocation_id, shadows in self._shadows_waiting.items():
            if invocation_id in found:
                served = _answer(found[invocation_id])
                for version, answer in shadows:
                    self._pair(version, answer, served)
        self._feedback_waiting.clear()
        self._shadows_waiting.clear()
        self._served.clear()

    def result(self, champion: int) -> dict[str, Any]:
        """Per version (served and shadow separately), and each against the champion's served
        records: differences of the rates with their p-values, the shadow agreement rate."""
        base = self.tallies.get((champion, False), VersionTally())
        versions = []
        for (version, shadow), tally in sorted(
            self.tallies.items(), key=lambda kv: (kv[0][1], kv[0][0] is None, kv[0][0] or 0)
        ):
            entry: dict[str, Any] = {
                "version": version,
                "role": "shadow" if shadow else "champion" if version == champion else "served",
                **tally.summary(),
            }
            if shadow:
                entry["shadow"] = {
                    "pairs": tally.pairs,
                    "agreement_rate": agreement_rate(tally.agreements, tally.pairs),
                }
            if shadow or version != champion:
                entry["against_champion"] = against(tally, base)
            versions.append(entry)
        return {"champion": champion, "versions": versions}


def against(tally: VersionTally, champion: VersionTally) -> dict[str, Any]:
    """`tally` − champion: invalid rate and latency differences, thumbs-up rate by the pooled
    two-proportion z-test, ratings by Mann-Whitney U (mean difference reported beside it)."""
    mine, theirs = tally.summary(), champion.summary()
    thumbs = two_proportion_z_test(
        tally.thumbs_up,
        tally.thumbs_up + tally.thumbs_down,
        champion.thumbs_up,
        champion.thumbs_up + champion.thumbs_down,
    )
    ratings = mann_whitney_u(
        {float(r): c for r, c in tally.ratings.items()},
        {float(r): c for r, c in champion.ratings.items()},
    )
    return {
        "invalid_rate": _difference(mine["invalid_rate"], theirs["invalid_rate"]),
        "latency_p50_ms": _difference(mine["latency_ms"]["p50"], theirs["latency_ms"]["p50"]),
        "latency_p99_ms": _difference(mine["latency_ms"]["p99"], theirs["latency_ms"]["p99"]),
        "thumbs_up_rate": {
            "difference": _difference(
                mine["feedback"]["thumbs_up_rate"], theirs["feedback"]["thumbs_up_rate"]
            ),
            "z": None if thumbs is None else thumbs.statistic,
            "p_value": None if thumbs is None else thumbs.p_value,
            "test": "two-proportion z-test (pooled, two-sided)",
        },
        "rating": {
            "mean_difference": _difference(
                mine["feedback"]["mean_rating"], theirs["feedback"]["mean_rating"]
            ),
            "u": None if ratings is None else ratings.statistic,
            "p_value": None if ratings is None else ratings.p_value,
            "test": "Mann-Whitney U (two-sided, normal approximation, tie and continuity "
            "corrections)",
        },
    }


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _answer(record: InvocationRecord) -> Answer | None:
    """What a shadow's answer is compared on: the parsed prediction (the output text for text
    deployments); two unparseable answers agree, as in an evaluation's comparison; None when
    there is nothing to compare (an error, or text not stored)."""
    if record.status == "invalid":
        return ("invalid", "")
    if record.status != "ok":
        return None
    value = record.prediction if record.prediction is not None else record.output
    return None if value is None else ("ok", value)


def _moment(created_at: str) -> datetime:
    return datetime.fromisoformat(created_at.replace("Z", "+00:00"))
