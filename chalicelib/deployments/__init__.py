"""Deployments as data: versions, aliases, routing, the promotion gate and compare."""
