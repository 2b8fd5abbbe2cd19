"""Tests of deployments: the promotion gate, compare and their statistics."""
