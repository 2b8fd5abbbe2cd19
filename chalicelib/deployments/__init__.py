"""Deployments as data: versions and aliases read through a per-process cache (`cache`), names
resolved to versions (`resolve`), traffic splits chosen by stable hash (`routing`), the admin
operations on them (`service`), the promotion gate (`gate`) and the per-version comparison of
production traffic (`compare`, on `stats`). Storage is chalicelib/storage/registry.py."""
