"""What the command line prints: plain-text tables and `COMMAND: error: …` failures."""

from __future__ import annotations

import sys
from collections.abc import Sequence


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


def fail(command: str, message: object) -> int:
    """Report a failed command on stderr; its exit status (2)."""
    print(f"{command}: error: {message}", file=sys.stderr)
    return 2
