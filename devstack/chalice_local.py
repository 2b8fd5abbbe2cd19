"""`chalice local`, closer to API Gateway and to how the rest of Tunegate reads its configuration.

- The process environment wins over the stage's variables in `.chalice/config.json`, as for the
  CLI and the worker (CONTRACT section 2): stock `chalice local` writes the stage's values over
  it, so moved endpoints (`AWS_ENDPOINT_URL=...`) were silently ignored.
- TCP_NODELAY on every accepted connection: the dev server writes headers and body in two sends,
  and Nagle's algorithm held the body until the client's delayed ACK, ~40 ms per kept-alive
  request.
- A listen backlog of 128 (socketserver's 5 resets 50 clients connecting at once).
- Methods without a handler (TRACE, QUERY, ...) go to the app, which answers 405 in the
  contract's envelope, instead of the dev server's own 501 page.
- A port already in use is one line naming it, not a traceback.

Same CLI: `python -m devstack.chalice_local local --stage local --port 8000`.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import MutableMapping
from typing import Any

import click
from chalice import local
from chalice.cli import main
from chalice.cli.factory import CLIFactory

local.ThreadedHTTPServer.request_queue_size = 128
local.ChaliceRequestHandler.disable_nagle_algorithm = True

_load_chalice_app = CLIFactory.load_chalice_app


def _environment_wins(
    self: CLIFactory,
    environment_variables: MutableMapping[str, Any] | None = None,
    validate_feature_flags: bool | None = True,
) -> Any:
    """Chalice exports the stage's variables before importing the app; keep those already set."""
    if environment_variables is not None:
        current = self._environ  # the process environment chalice local writes into
        environment_variables = {
            key: value for key, value in environment_variables.items() if key not in current
        }
    return _load_chalice_app(self, environment_variables, validate_feature_flags)


CLIFactory.load_chalice_app = _environment_wins  # type: ignore[method-assign]


def _any_method(self: local.ChaliceRequestHandler, name: str) -> Any:
    """Every `do_<METHOD>` goes to the app, as API Gateway would send it."""
    if name.startswith("do_"):
        return self._generic_handle
    raise AttributeError(name)


local.ChaliceRequestHandler.__getattr__ = _any_method


_server_bind = local.ThreadedHTTPServer.server_bind


def _bind_or_explain(self: local.ThreadedHTTPServer) -> None:
    """A busy port: one line naming it and how to move, instead of chalice's traceback."""
    try:
        _server_bind(self)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        host, port = self.server_address[:2]
        raise click.ClickException(
            f"port {port} on {host!s} is already in use (another `make run`?): stop that "
            "server or choose another port, e.g. PORT=8100 make run"
        ) from None


local.ThreadedHTTPServer.server_bind = _bind_or_explain

if __name__ == "__main__":
    sys.exit(main())
