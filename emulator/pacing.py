"""Shared by both control planes: ids, timestamps, and the pace a job moves at."""

from __future__ import annotations

import secrets
import string
import threading
import time
from datetime import UTC, datetime

_ALPHABET = string.ascii_lowercase + string.digits


def short_id(length: int = 12) -> str:
    """Bedrock's resource ids: lowercase letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def iso_now() -> str:
    """An ISO 8601 timestamp as Bedrock's rest-json protocol sends it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Pace:
    """Waits `step_seconds` between status changes; 0 moves on at once (tests). A wait ends
    early when the job is cancelled or the emulator stops, so neither hangs on a long pace."""

    def __init__(self, step_seconds: float, stopping: threading.Event):
        if step_seconds < 0:
            raise ValueError("the control-plane step must not be negative")
        self.step_seconds = step_seconds
        self.stopping = stopping

    def wait(self, cancel: threading.Event) -> bool:
        """Sleep one step; True if the job was cancelled or the emulator is stopping."""
        deadline = time.monotonic() + self.step_seconds
        while True:
            if cancel.is_set() or self.stopping.is_set():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            cancel.wait(min(remaining, 0.05))

    def start(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
