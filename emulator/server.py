"""The HTTP side: a threaded keep-alive server around `Emulation`, and the in-process API."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from emulator.faults import FaultConfig, FaultPlan, ScriptEntry
from emulator.models import ModelTable
from emulator.reference_model import ReferenceClassifier
from emulator.service import Emulation
from emulator.wire import ApiError, Reply, bedrock_error, request_id

_MAX_BODY = 20 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive plus TCP_NODELAY: without it each keep-alive request waits ~40 ms
    # for the client's delayed ACK.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "TunegateEmulator/1.0"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: per-request logging would cost more than the request."""

    def _dispatch(self, method: str) -> None:
        try:
            raw = self._read_body()
        except ValueError as problem:
            self.close_connection = True
            self._send(bedrock_error(ApiError("ValidationException", str(problem))))
            return
        try:
            reply = self.server.emulation.route(
                method,
                self.path,
                raw,
                self.headers.get("Authorization"),
                self.headers.get("Content-Type"),
            )
        except Exception as error:  # an emulator bug must still answer like the service would
            reply = bedrock_error(ApiError("InternalServerException", f"emulator error: {error}"))
        self._send(reply)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_header)
        except ValueError:
            raise ValueError(f"bad Content-Length {length_header!r}") from None
        if not 0 <= length <= _MAX_BODY:
            raise ValueError(f"Content-Length {length} outside [0, {_MAX_BODY}]")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("x-amzn-RequestId", request_id())
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its read timeout fired)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulation: Emulation):
        super().__init__(address, _Handler)
        self.emulation = emulation

    def process_request(self, request: Any, client_address: Any) -> None:
        self.emulation.connection_opened()  # lets tests prove keep-alive reuses connections
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # clients hanging up are normal here, not worth a traceback
        super().handle_error(request, client_address)


class Emulator:
    """A running emulator; also a context manager that stops it."""

    def __init__(
        self,
        host: str,
        port: int,
        table: ModelTable,
        plan: FaultPlan,
        control_plane_step_seconds: float = 0.0,
    ):
        self._stopping = threading.Event()
        self._plan = plan
        self.table = table
        emulation = Emulation(table, plan, self._stopping, control_plane_step_seconds)
        self._server = _Server((host, port), emulation)
        self.host = host
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def set_faults(self, **settings: Any) -> None:
        """Replace the whole fault configuration (unnamed settings go back to off)."""
        self._plan.configure(FaultConfig.from_mapping(settings))

    def script(self, entries: list[Mapping[str, Any]]) -> None:
        self._plan.add_script([ScriptEntry.from_mapping(dict(entry)) for entry in entries])

    def stats(self) -> dict[str, Any]:
        return self._plan.stats()

    @property
    def connections(self) -> int:
        """TCP connections accepted since start (keep-alive keeps this low)."""
        return self._server.emulation.connections

    def reset(self) -> None:
        self._plan.reset()

    def serve_until_stopped(self) -> None:
        self._thread.join()

    def stop(self) -> None:
        self._stopping.set()  # wakes requests sleeping in latency or timeout faults
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    train_file: Path | str | None = None,
    models: Mapping[str, str] | None = None,
    faults: Mapping[str, Any] | None = None,
    seed: int = 0,
    control_plane_step_seconds: float = 0.0,
) -> Emulator:
    """Train the reference model (if `train_file`), then serve in a background thread.

    `control_plane_step_seconds` is how long a customization job or a provisioned model stays
    in each status before the next (0: as soon as the work is done).

    Without a training file the reference model's ids answer ResourceNotFoundException:
    a clear, immediate failure rather than a retried ModelNotReadyException.
    """
    classifier = ReferenceClassifier.from_file(Path(train_file), seed) if train_file else None
    plan = FaultPlan(FaultConfig.from_mapping(faults or {}))
    table = ModelTable(models, classifier)
    return Emulator(host, port, table, plan, control_plane_step_seconds)
