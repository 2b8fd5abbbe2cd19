"""The runner's write-through answer cache: an interrupted evaluation resumes without calling the
model again for answers it already has. Keyed by what determines the answer (deployment, model,
formatted request, parameters); only deterministic (temperature 0) successful answers are kept."""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from chalicelib.config.registry import Deployment
from chalicelib.formats import InferenceParams, Prompt, get_format


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A model's raw answer and what it cost, as first received."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float | None = None

    def to_json(self) -> str:
        # The fields by hand, not `asdict` (a deep copy per answer, on the runner's hot path).
        fields = {
            "text": self.text,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_ms": self.latency_ms,
        }
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> CachedAnswer:
        data = json.loads(raw)
        return cls(
            text=str(data["text"]),
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            latency_ms=data.get("latency_ms"),
        )


class AnswerCache(Protocol):
    """Storage for answers by key; implementations must be safe to call from many threads."""

    def get(self, key: str) -> CachedAnswer | None: ...

    def put(self, key: str, answer: CachedAnswer) -> None: ...


def cacheable(params: InferenceParams) -> bool:
    """Sampled answers (temperature > 0) differ from call to call: caching one would freeze it."""
    return params.temperature == 0


def cache_key(deployment: Deployment, prompt: Prompt, params: InferenceParams) -> str:
    """SHA-256 of the deployment, its model and the exact request body with its parameters."""
    body = get_format(deployment.provider, deployment.request_format).build_request(prompt, params)
    material = {
        "deployment": deployment.name,
        "provider": deployment.provider,
        "model_id": deployment.model_id,
        "base_url": deployment.base_url,
        "request_format": deployment.request_format,
        "request": body,
        "parameters": _parameters(params),
    }
    raw = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


@functools.lru_cache(maxsize=64)
def _parameters(params: InferenceParams) -> dict[str, Any]:
    """`asdict(params)`, once per distinct parameters (it deep-copies: a third of a key's cost);
    shared, so never modified."""
    return asdict(params)


class MemoryCache:
    """A dict behind a lock: for tests and one-off runs (or `answers` shared under `lock`)."""

    def __init__(
        self, answers: dict[str, CachedAnswer] | None = None, lock: threading.Lock | None = None
    ) -> None:
        self._lock = lock or threading.Lock()
        self._answers: dict[str, CachedAnswer] = {} if answers is None else answers

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            return self._answers.get(key)

    def put(self, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._answers[key] = answer

    def __len__(self) -> int:
        return len(self._answers)


class SqliteCache:
    """One SQLite file (WAL, committed per answer): a killed process loses at most the answers
    in flight, and another process may read the file while it is being written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)"
        )

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else CachedAnswer.from_json(row[0])

    def put(self, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)",
                (key, answer.to_json()),
            )

    def __len__(self) -> int:
        with self._lock:
            row: Any = self._db.execute("SELECT COUNT(*) FROM answers").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
