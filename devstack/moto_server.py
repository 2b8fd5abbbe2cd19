"""moto's server with DynamoDB's per-request atomicity, for the local stack and the tests.

DynamoDB applies each write (a conditional put, an `ADD` update, a transaction) atomically: two
racing updates of one item never lose one another. moto's server handles requests on threads
over plain dicts, so under real concurrency a read-modify-write inside moto can interleave with
another (an `ADD revision :one` from 8 threads ended at 6). The feedback and job stores rely on
that atomicity, so the local stack serialises DynamoDB requests to keep moto's answers
DynamoDB's. Other services (S3, SQS) stay concurrent.

`python -m devstack.moto_server [-H HOST] [-p PORT]` serves it as `python -m moto.server` would.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (its whole answer built under the lock)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self._lock:
            return list(self.app(environ, start_response))


class QuietRequestHandler(MotoRequestHandler):  # type: ignore[misc]
    """Logs only server errors: the worker polls SQS all the time, and a line per request buried
    `make run`'s own output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith("5"):
            super().log_request(code, size)


def local_moto_server(host: str, port: int) -> BaseWSGIServer:
    """moto's threaded server, DynamoDB serialised, request lines not logged."""
    app = SerialDynamoDB(DomainDispatcherApplication(create_backend_app))
    return make_server(host, port, app, True, request_handler=QuietRequestHandler)


class LocalMotoServer(ThreadedMotoServer):
    """`ThreadedMotoServer` (in-process, on a thread) serving `local_moto_server`."""

    def _server_entry(self) -> None:
        self._server = local_moto_server(self._ip_address, self._port)
        self._server_ready_event.set()
        self._server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    server = local_moto_server(args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
