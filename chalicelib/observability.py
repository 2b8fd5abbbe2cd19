"""One logger and one metrics object for every handler (Powertools: JSON logs, EMF metrics)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "tunegate"

logger = Logger(service=SERVICE)
# No service dimension: the contract's only dimension is `model`.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tunegate"))

__all__ = ["MetricUnit", "logger", "metrics", "single_metric"]
