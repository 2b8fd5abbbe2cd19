"""One logger and one metrics object for every handler (Powertools: JSON logs, EMF metrics)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "tunegate"

logger = Logger(service=SERVICE)
# No service dimension: the contract's only dimension is `model`.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tunegate"))


#: The `model` + `version` sets the request's metrics already carry (Powertools appends a set
#: again on every call; a completion of several prompts must add its version once).
_version_sets: set[tuple[str, str]] = set()


def add_version_dimensions(model: str, version: int) -> None:
    """Put the request's metrics under `model` + `version` too: a second dimension set in the
    same EMF document, so the contract's `model`-only set stays as it was."""
    key = (model, str(version))
    if key not in _version_sets:
        _version_sets.add(key)
        metrics.add_dimensions(model=model, version=str(version))


def clear_version_dimensions() -> None:
    """After each flush: the next request adds its own sets."""
    _version_sets.clear()


__all__ = [
    "MetricUnit",
    "add_version_dimensions",
    "clear_version_dimensions",
    "logger",
    "metrics",
    "single_metric",
]
