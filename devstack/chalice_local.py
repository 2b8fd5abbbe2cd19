"""`chalice local`, closer to API Gateway under load and fuzzing.

Chalice's dev server keeps socketserver's default backlog of 5 pending connections (50 clients
connecting at once get resets) and answers methods it has no handler for (TRACE, QUERY, ...)
with its own 501 page, where the app answers 405 in the contract's envelope. Same CLI, same app
wiring: `python -m devstack.chalice_local local --stage local --port 8000`.
"""

from __future__ import annotations

import sys
from typing import Any

from chalice import local
from chalice.cli import main

local.ThreadedHTTPServer.request_queue_size = 128


def _any_method(self: local.ChaliceRequestHandler, name: str) -> Any:
    """Every `do_<METHOD>` goes to the app, as API Gateway would send it."""
    if name.startswith("do_"):
        return self._generic_handle
    raise AttributeError(name)


local.ChaliceRequestHandler.__getattr__ = _any_method

if __name__ == "__main__":
    sys.exit(main())
