"""The process's copy of the registry, read again once it is older than `max_age_seconds`
(REGISTRY_CACHE_SECONDS): a routing change reaches every warm Lambda within that bound.

A failed read keeps the last good copy serving (invokes must not fail because the registry
table hiccups), logs a warning and counts `RegistryStale`; only a process that never read the
registry fails its requests (503 service_unavailable). The clock is injectable for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from chalicelib.deployments.resolve import RegistryView
from chalicelib.errors import ServiceUnavailable
from chalicelib.observability import MetricUnit, logger, metrics, single_metric
from chalicelib.storage.registry import RegistryStore


class RegistryCache:
    def __init__(
        self,
        store: RegistryStore,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._view: RegistryView | None = None
        self._read_at = -math.inf
        self._lock = threading.Lock()

    def view(self) -> RegistryView:
        """The current view, read again first when it is too old."""
        if self.clock() - self._read_at >= self.max_age_seconds or self._view is None:
            with self._lock:
                if self.clock() - self._read_at >= self.max_age_seconds or self._view is None:
                    self.refresh()
        assert self._view is not None  # refresh() raised otherwise
        return self._view

    def refresh(self) -> RegistryView:
        """Read the registry now; on failure keep the last good view (or raise without one)."""
        now = self.clock()
        try:
            snapshot = self.store.snapshot()
        except ServiceUnavailable:
            if self._view is None:
                raise
            # Try again after another period, not on every request of an outage.
            self._read_at = now
            logger.warning(
                "registry unreachable; serving the last good copy",
                extra={"registry_age_seconds": round(now - self._loaded_at, 3)},
            )
            with single_metric(
                name="RegistryStale", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
            ):
                pass
            return self._view
        self._view = RegistryView(snapshot, self._view)
        self._read_at = self._loaded_at = now
        return self._view

    def invalidate(self) -> None:
        """Read again on next use (this process just changed the registry)."""
        self._read_at = -math.inf

    _loaded_at: float = -math.inf
