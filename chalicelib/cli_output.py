"""What the command line prints: plain-text tables, `COMMAND: error: …` failures, and a quiet
exit when the reader of the output goes away (`… | head`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.errors import TunegateError

# What a shell reports for a process killed by SIGPIPE (128 + 13), as `yes | head` gives `yes`.
BROKEN_PIPE_STATUS = 141


def aligned_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The first column left-aligned, the rest right-aligned, two spaces apart."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [columns, *rows]
    )


def print_json(document: Any) -> None:
    """A command's answer on stdout: the JSON the API would give."""
    print(json.dumps(document, indent=2))


def print_refusal(exc: TunegateError) -> int:
    """A service's refusal as the API states it (code, message, each detail's field and reason);
    exit status 1."""
    print(f"error ({exc.code}): {exc.message}")
    for detail in exc.details or []:
        print(f"  - {detail.get('field')}: {detail.get('reason')}")
    return 1


def fail(command: str, message: object) -> int:
    """Report a failed command on stderr; its exit status (2)."""
    print(f"{command}: error: {message}", file=sys.stderr)
    return 2


def quiet_on_broken_pipe(run: Callable[[], int]) -> int:
    """Run a command; if its stdout reader closed early, stop quietly, as Unix tools do.

    SIGPIPE is not restored to its default instead: that would also kill the process on a
    reset network socket (boto3, the OpenAI-compatible client), where an exception is wanted.
    """
    try:
        status = run()
        sys.stdout.flush()  # a small output is written only now: the pipe may break here too
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE_STATUS
    return status
