"""Deployments as data: versions and aliases read through a per-process cache (`cache`), names
resolved to versions (`resolve`), traffic splits chosen by stable hash (`routing`) and the
admin operations on them (`service`). Storage is chalicelib/storage/registry.py."""
