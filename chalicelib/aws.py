"""boto3 clients and resources, created once per process on first use and then reused.

Nothing here touches the network at import; endpoints come only from boto3's standard
configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, region, credentials chain).
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from botocore.config import Config

from chalicelib.config.settings import get_settings

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_model_clients: dict[int, Any] = {}
# botocore directly rather than boto3: same clients, without importing boto3's transfer
# machinery (about 45 ms of every cold start).
_session: botocore.session.Session | None = None

# Storage calls are small: fail fast so a dead backend becomes a clean 503, not a hung Lambda.
_STORAGE_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=50,
)


def model_config(max_attempts: int) -> Config:
    """The model clients' configuration: the stage's time budget and botocore's standard retry
    mode with `max_attempts` in all (the benchmarks' direct clients use it too, so both sides
    are configured alike).

    No client-side parameter validation: our requests are built from registry values pydantic
    already bounded (max tokens, temperature, top p, stop lengths), and the service validates
    again; botocore's walk of the Converse shape was ~0.1 ms of every call (issue 16 item 3).
    """
    settings = get_settings()
    return Config(
        connect_timeout=settings.model_connect_timeout_seconds,
        read_timeout=settings.model_read_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=50,
        tcp_keepalive=True,
        parameter_validation=False,
    )


def client(service: str) -> Any:
    """The process-wide client for a storage `service` (small calls, fail fast)."""
    return _cached(service, service, _STORAGE_CONFIG)


#: Control-plane calls (Bedrock customization jobs): few and not on a request's hot path;
#: retried, which is safe because each create carries a client request token.
_CONTROL_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 3},
)


def control_client(service: str = "bedrock") -> Any:
    """The process-wide Bedrock control-plane client (endpoint from AWS_ENDPOINT_URL_BEDROCK)."""
    return _cached(f"control:{service}", service, _CONTROL_CONFIG)


def model_client(max_attempts: int) -> Any:
    """The process-wide bedrock-runtime client with the model time budget and `max_attempts`
    in all (a RetryPolicy's `max_attempts`; one client per distinct count). Keyed by the count
    itself: this runs on every model call, and building a key from a settings dict cost more
    than the lookup."""
    existing = _model_clients.get(max_attempts)
    if existing is not None:
        return existing
    runtime = _cached(
        f"bedrock-runtime:{max_attempts}", "bedrock-runtime", model_config(max_attempts)
    )
    _model_clients[max_attempts] = runtime
    return runtime


def _cached(key: str, service: str, config: Config) -> Any:
    existing = _clients.get(key)
    if existing is not None:
        return existing
    global _session
    with _lock:
        if key not in _clients:
            if _session is None:
                _session = botocore.session.get_session()
            _clients[key] = _session.create_client(service, config=config)
        return _clients[key]


def region() -> str:
    """The region the process's clients call (boto3's standard configuration; no I/O)."""
    global _session
    with _lock:
        if _session is None:
            _session = botocore.session.get_session()
        return str(_session.get_config_variable("region") or "us-east-1")


def reset_clients() -> None:
    """Forget cached clients (tests that change endpoints or settings between cases)."""
    global _session
    with _lock:
        _clients.clear()
        _model_clients.clear()
        _session = None
