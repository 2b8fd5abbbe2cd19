"""All-or-nothing file output: write every file under a temporary name, then rename them all.

An interrupted or failed run leaves the previous outputs (or none), never a half file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path


def _write_temp(path: Path, chunks: Iterable[str]) -> Path:
    """Write `chunks` to a hidden temporary file beside `path`: same filesystem, atomic rename."""
    # open(..., "x") rather than mkstemp: the final file gets the usual umask permissions.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "x", encoding="utf-8", newline="\n") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_files(files: Sequence[tuple[Path, Iterable[str]]]) -> None:
    """Write each (path, chunks) pair; nothing is renamed into place until all were written.

    The chunks may be lazy generators: if one raises, every temporary file is removed and no
    final file is created or replaced.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, chunks in files:
            staged.append((_write_temp(path, chunks), path))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for temp, path in staged:
        os.replace(temp, path)
    if staged:
        _sync_dir(staged[0][1].parent)


def _sync_dir(folder: Path) -> None:
    """Persist the renames themselves (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
