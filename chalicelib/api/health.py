"""`GET /health`: liveness, plus whether each dependency can be reached at all.

A stack whose endpoints point nowhere (a moved port, a stopped emulator) answered every invoke
503 while `/health` said ok. The check is one TCP connect per distinct endpoint (no request, no
credentials, no IAM grant), answered from a short cache so a public route cannot be used to
hammer the backends. The answer names dependencies only, never their endpoints.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

from chalicelib import aws
from chalicelib.config.registry import Registry

CACHE_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 0.5
#: What the API itself calls: invocation and feedback records, evaluation jobs and results.
STORAGE_SERVICES = ("dynamodb", "sqs", "s3")

Check = Literal["ok", "unreachable"]
Address = tuple[str, int]

_lock = threading.Lock()
_cached: tuple[float, dict[str, Check]] | None = None


def dependency_checks(registry: Registry) -> dict[str, Check]:
    """`{"dynamodb": "ok", "bedrock-runtime": "unreachable", ...}`, at most CACHE_SECONDS old."""
    global _cached
    with _lock:
        cached = _cached
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    checks = _check(_dependencies(registry))
    with _lock:
        _cached = (time.monotonic(), checks)
    return checks


def clear_cache() -> None:
    global _cached
    with _lock:
        _cached = None


def _dependencies(registry: Registry) -> dict[str, list[Address]]:
    """Each dependency's endpoints (host, port), as the clients would connect."""
    services = list(STORAGE_SERVICES)
    providers = {d.provider for d in registry.deployments}
    if "bedrock" in providers:
        services.append("bedrock-runtime")
    found = {name: [_address(aws.client(name).meta.endpoint_url)] for name in services}
    openai = [_address(d.base_url) for d in registry.deployments if d.base_url]
    if openai:
        found["openai"] = openai
    return found


def _address(url: str) -> Address:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.hostname or "", port)


def _check(dependencies: dict[str, list[Address]]) -> dict[str, Check]:
    reachable: dict[Address, bool] = {}
    for address in _unique(a for addresses in dependencies.values() for a in addresses):
        reachable[address] = _connects(address)
    return {
        name: "ok" if all(reachable[a] for a in addresses) else "unreachable"
        for name, addresses in dependencies.items()
    }


def _unique(addresses: Iterable[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))


def _connects(address: Address) -> bool:
    try:
        with socket.create_connection(address, timeout=CONNECT_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False
