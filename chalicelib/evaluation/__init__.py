"""Evaluation of deployments on held-out sets: metric accumulators, datasets, runner, reports."""
