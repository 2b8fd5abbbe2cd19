"""All-or-nothing file output: write every file under a temporary name, then rename them all.

An interrupted or failed run leaves the previous outputs (or none), never a half file.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path


def _write_temp(path: Path, chunks: Iterable[str]) -> Path:
    """Write `chunks` to a hidden temporary file beside `path`: same filesystem, atomic rename."""
    # open(..., "x") rather than mkstemp: the final file gets the usual umask permissions.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(temp, "xb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8"))
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


class _Flush(threading.Thread):
    """fsync one file in the background (it releases the GIL) while the next one is written."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.error: OSError | None = None
        self.start()

    def run(self) -> None:
        try:
            _fsync(self.path)
        except OSError as exc:
            self.error = exc


def _fsync(path: Path) -> None:
    """Force a file (or directory) to disk; a no-op where the platform cannot open it so."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_files(files: Sequence[tuple[Path, Iterable[str]]]) -> None:
    """Write each (path, chunks) pair, in the order given; nothing is renamed into place until
    all were written and flushed to disk.

    The chunks may be lazy generators (a later one may use what earlier ones counted): if one
    raises, every temporary file is removed and no final file is created or replaced.
    """
    staged: list[tuple[Path, Path]] = []
    flushes: list[_Flush] = []
    try:
        for path, chunks in files:
            temp = _write_temp(path, chunks)
            staged.append((temp, path))
            flushes.append(_Flush(temp))
        for flush in flushes:
            flush.join()
            if flush.error:
                raise flush.error
    except BaseException:
        for flush in flushes:
            flush.join()
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for temp, path in staged:
        os.replace(temp, path)
    if staged:
        with contextlib.suppress(OSError):
            _fsync(staged[0][1].parent)  # persist the renames themselves
