"""The one error data preparation raises for bad input; the CLI prints it and exits 2."""

from __future__ import annotations


class DataError(Exception):
    """Input that cannot be used as given; the message names the file and, where known, the line."""
