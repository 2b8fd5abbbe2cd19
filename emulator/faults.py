"""Fault injection, scripted responses and call statistics, shared by every request thread."""

from __future__ import annotations

import copy
import random
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from emulator.wire import BEDROCK_ERROR_STATUS

#: Rate fields in the order a single uniform draw walks through them.
RATE_OUTCOMES: dict[str, str] = {
    "throttle_rate": "ThrottlingException",
    "model_not_ready_rate": "ModelNotReadyException",
    "unavailable_rate": "ServiceUnavailableException",
    "internal_error_rate": "InternalServerException",
    "model_error_rate": "ModelErrorException",
    "timeout_rate": "timeout",
    "malformed_rate": "malformed",
}
MalformedKind = Literal["mixed", "invalid_json", "missing_fields"]


@dataclass(frozen=True, slots=True)
class FaultConfig:
    throttle_rate: float = 0.0
    model_not_ready_rate: float = 0.0
    unavailable_rate: float = 0.0
    internal_error_rate: float = 0.0
    model_error_rate: float = 0.0
    timeout_rate: float = 0.0
    malformed_rate: float = 0.0
    #: Added to every model call, faulty or not.
    latency_ms: int = 0
    #: How long a timeout fault holds the request before answering ModelTimeoutException.
    timeout_seconds: float = 30.0
    malformed_kind: MalformedKind = "mixed"
    seed: int = 0
    #: Extra latency for named model ids only (e.g. a slow shadow model), on top of latency_ms.
    model_latency_ms: Mapping[str, int] = field(default_factory=dict)
    #: When set, every new Provisioned Throughput / custom model deployment goes Failed with
    #: this failureMessage instead of InService / Active.
    provisioning_failure: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from JSON, naming the first bad field; unknown fields are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting {unknown[0]!r}; known: {sorted(known)}")
        for name, value in data.items():
            if name == "model_latency_ms":
                _check_model_latency(value)
            elif name == "provisioning_failure":
                if not isinstance(value, str):
                    raise ValueError("provisioning_failure must be a string (a failureMessage)")
            elif name == "malformed_kind":
                if value not in ("mixed", "invalid_json", "missing_fields"):
                    raise ValueError("malformed_kind must be mixed, invalid_json or missing_fields")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            elif name in RATE_OUTCOMES and not 0 <= value <= 1:
                raise ValueError(f"{name} must be within [0, 1]")
            elif value < 0:
                raise ValueError(f"{name} must not be negative")
            elif name in ("latency_ms", "seed") and not isinstance(value, int):
                raise ValueError(f"{name} must be an integer")
        return cls(**data)


def _check_model_latency(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError("model_latency_ms must map model ids to milliseconds")
    for model_id, ms in value.items():
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
            raise ValueError(f"model_latency_ms[{model_id!r}] must be a non-negative integer")


@dataclass(frozen=True, slots=True)
class ScriptEntry:
    """One scripted answer: an error, a text, a raw body, and/or a delay before it."""

    model_id: str | None = None
    error: str | None = None
    message: str | None = None
    text: str | None = None
    status: int = 200
    raw_body: str | None = None
    delay_ms: int = 0

    @classmethod
    def from_mapping(cls, data: Any) -> ScriptEntry:
        if not isinstance(data, dict):
            raise ValueError("each script entry must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown script field {unknown[0]!r}; known: {sorted(known)}")
        for name in ("model_id", "error", "message", "text", "raw_body"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string")
        entry = cls(**data)
        if entry.error is not None and entry.error not in BEDROCK_ERROR_STATUS:
            raise ValueError(f"unknown error type {entry.error!r}")
        answers = [entry.error, entry.text, entry.raw_body]
        if sum(answer is not None for answer in answers) > 1:
            raise ValueError("a script entry gives at most one of error, text, raw_body")
        if all(answer is None for answer in answers) and not entry.delay_ms:
            raise ValueError("a script entry needs error, text, raw_body or delay_ms")
        if not isinstance(entry.delay_ms, int) or entry.delay_ms < 0:
            raise ValueError("delay_ms must be a non-negative integer")
        if not isinstance(entry.status, int) or not 100 <= entry.status <= 599:
            raise ValueError("status must be an HTTP status code")
        return entry

    @property
    def only_delay(self) -> bool:
        return self.error is None and self.text is None and self.raw_body is None


@dataclass(frozen=True, slots=True)
class Fault:
    """What a draw decided: `outcome` is an error type, "timeout" or "malformed"."""

    outcome: str
    invalid_json: bool = False


class FaultPlan:
    """The mutable emulator state; every method is safe to call from any thread."""

    def __init__(self, config: FaultConfig | None = None):
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._baseline = self._config  # what reset() returns to: the start-up settings
        self._rng = random.Random(self._config.seed)
        self._script: deque[ScriptEntry] = deque()
        self._stats: dict[str, Any] = _empty_stats()

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)

    def add_script(self, entries: list[ScriptEntry]) -> None:
        with self._lock:
            self._script.extend(entries)

    def next_script(self, model_id: str) -> ScriptEntry | None:
        """Take the first queued entry meant for this model (or for any model)."""
        with self._lock:
            for entry in self._script:
                if entry.model_id is None or entry.model_id == model_id:
                    self._script.remove(entry)
                    return entry
        return None

    def next_exact(self, key: str) -> ScriptEntry | None:
        """Take the first entry naming exactly `key` (control-plane entries such as
        "control:CreateModelCustomizationJob"); entries for any model are left to model calls."""
        with self._lock:
            for entry in self._script:
                if entry.model_id == key:
                    self._script.remove(entry)
                    return entry
        return None

    def draw(self) -> Fault | None:
        with self._lock:
            config, point = self._config, self._rng.random()
            for name, outcome in RATE_OUTCOMES.items():
                rate = getattr(config, name)
                if point < rate:
                    if outcome != "malformed":
                        return Fault(outcome)
                    kind = config.malformed_kind
                    invalid = (
                        self._rng.random() < 0.5 if kind == "mixed" else (kind == "invalid_json")
                    )
                    return Fault(outcome, invalid)
                point -= rate
        return None

    def record(self, model_id: str, api: str, outcome: str) -> None:
        with self._lock:
            stats = self._stats
            stats["total"] += 1
            _bump(stats["outcomes"], outcome)
            _bump(stats["apis"], api)
            model = stats["models"].setdefault(model_id, {"total": 0, "outcomes": {}})
            model["total"] += 1
            _bump(model["outcomes"], outcome)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            snapshot = copy.deepcopy(self._stats)
            snapshot["script_pending"] = len(self._script)
            return snapshot

    def reset(self) -> None:
        """Back to the start-up settings (all off unless the CLI set a latency), no script,
        zeroed stats."""
        with self._lock:
            self._config = self._baseline
            self._rng = random.Random(self._config.seed)
            self._script.clear()
            self._stats = _empty_stats()

    def describe(self) -> dict[str, Any]:
        return asdict(self._config)


def _empty_stats() -> dict[str, Any]:
    return {"total": 0, "outcomes": {}, "apis": {}, "models": {}}


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1
