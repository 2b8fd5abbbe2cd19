"""`chalice local`, with a listen backlog deep enough for concurrent clients.

Chalice's dev server keeps socketserver's default backlog of 5 pending connections, so 50
clients connecting at once get resets. Same CLI, same app wiring; only the backlog differs:
`python -m devstack.chalice_local local --stage local --port 8000`.
"""

from __future__ import annotations

import sys

from chalice import local
from chalice.cli import main

local.ThreadedHTTPServer.request_queue_size = 128

if __name__ == "__main__":
    sys.exit(main())
