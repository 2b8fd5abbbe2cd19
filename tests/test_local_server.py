"""The API under `chalice local` (`devstack.chalice_local`, what `make run` serves): the process
environment wins over the stage's config, `/health` names an unreachable dependency, a busy
port is one line, and kept-alive connections are not held back by Nagle's algorithm."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from devstack import free_port, serve_api
from tests.conftest import API_KEY, ROOT, auth_headers
from tests.test_api_invoke import POSITIVE


def request(url: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=auth_headers())
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_the_environment_wins_over_the_stage_config(emulator: Any) -> None:
    emulator.reset()  # no faults left over from other tests
    # The `local` stage in config.json names port 4566/4010 endpoints and the shipped registry;
    # this process's environment names the test stack's moto, emulator and registry.
    with serve_api(stage="local") as url:
        status, body = request(
            url, "POST", "/v1/models/sentiment-converse/invoke", {"input": POSITIVE}
        )
        assert status == 200, body
        assert body["prediction"] == "positive"
        status, health = request(url, "GET", "/health")
    assert status == 200 and health["status"] == "ok", health
    assert health["stage"] == "test"  # STAGE from the environment, not the config's "local"
    assert set(health["checks"]) >= {"dynamodb", "sqs", "s3", "bedrock-runtime", "openai"}
    assert set(health["checks"].values()) == {"ok"}


def test_health_names_an_unreachable_dependency_without_its_endpoint(local_stack: Any) -> None:
    closed = free_port()  # nothing listens there
    moved = {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": f"http://127.0.0.1:{closed}"}
    with serve_api(extra_env=moved) as url:
        status, health = request(url, "GET", "/health")
        invoke_status, _ = request(
            url, "POST", "/v1/models/sentiment-converse/invoke", {"input": POSITIVE}
        )
    assert (status, health["status"]) == (503, "degraded"), health
    assert health["checks"]["bedrock-runtime"] == "unreachable"
    assert health["checks"]["dynamodb"] == "ok" and health["checks"]["openai"] == "ok"
    assert str(closed) not in json.dumps(health) and "127.0.0.1" not in json.dumps(health)
    assert invoke_status == 503  # what /health now warns about


def test_a_busy_port_is_one_line_naming_it(local_stack: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = [sys.executable, "-m", "devstack.chalice_local", "local", "--no-autoreload"]
        command += ["--stage", "devstack", "--port", str(port)]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr, result.stderr
    assert f"port {port}" in result.stderr and "PORT=" in result.stderr, result.stderr


@contextmanager
def dev_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A chalice local dev server (as patched by devstack.chalice_local) in this process, on a
    free port; yields the port and the server side of every accepted connection."""
    from chalice import Chalice, local
    from chalice.config import Config

    import devstack.chalice_local  # noqa: F401 (patches chalice.local)

    app = Chalice(app_name="nodelay")

    @app.route("/")
    def index() -> dict[str, bool]:
        return {"ok": True}

    server = local.LocalDevServer(app, Config(), "127.0.0.1", 0)
    accepted: list[socket.socket] = []
    process_request = server.server.process_request

    def record(connection: Any, client_address: Any) -> None:
        accepted.append(connection)
        process_request(connection, client_address)

    server.server.process_request = record  # type: ignore[method-assign]
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server.server_address[1], accepted
    finally:
        server.shutdown()
        server.server.server_close()


def test_accepted_connections_have_nagle_off() -> None:
    with dev_server() as (port, accepted):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(2):
            connection.request("GET", "/")
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read()) == {"ok": True}
        [server_side] = accepted  # one kept-alive connection, still open
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        connection.close()


def test_kept_alive_requests_are_not_held_back(local_stack: Any) -> None:
    """Nagle + the client's delayed ACK held every kept-alive answer ~40 ms: an order of
    magnitude over a whole fresh-connection request on loopback. Interleaved, so machine load
    hits both alike; the comparison is relative, not a time limit."""

    def timed(connection: http.client.HTTPConnection) -> float:
        started = time.perf_counter()
        connection.request("GET", "/v1/models", headers={"x-api-key": API_KEY})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        return time.perf_counter() - started

    with serve_api() as url:
        parts = urlsplit(url)
        kept = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        kept_times, fresh_times = [], []
        for i in range(23):
            fresh = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
            fresh_time = timed(fresh)
            fresh.close()
            kept_time = timed(kept)
            if i >= 3:  # the first answers of a connection are acknowledged at once anyway
                fresh_times.append(fresh_time)
                kept_times.append(kept_time)
        kept.close()
    kept_median, fresh_median = statistics.median(kept_times), statistics.median(fresh_times)
    # Without the stall a kept-alive request costs less than a fresh one (no connect).
    assert kept_median < 2 * fresh_median + 0.005, (kept_median, fresh_median)
