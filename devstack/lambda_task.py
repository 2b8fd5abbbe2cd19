"""A Lambda bundle laid out as the Python runtime runs it, for tests and the cold-start bench.

/var/task is the unzipped bundle, read-only; next to it on sys.path the runtime provides boto3
and its dependencies (here: links to this venv's copies, compiled as the runtime's are). The
interpreter runs with `-I -S -B`: no user site, no site-packages, no bytecode writing.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

# What the Lambda Python runtime ships besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six.py")
LAMBDA_FLAGS = ("-I", "-S", "-B")


def unpack_read_only(bundle: Path, task: Path) -> Path:
    """Unzip `bundle` into `task` and take write permission away, as on /var/task."""
    zipfile.ZipFile(bundle).extractall(task)
    set_writable(task, writable=False)
    return task


def set_writable(root: Path, *, writable: bool) -> None:
    """Add or remove every write bit under `root` (put back before deleting the tree)."""
    bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~bits))


def runtime_dir(where: Path) -> Path:
    """A directory holding only what the Lambda runtime adds to the path (boto3 & co)."""
    import botocore

    site = Path(botocore.__file__).resolve().parent.parent
    runtime = where / "runtime"
    runtime.mkdir(exist_ok=True)
    for name in RUNTIME_PACKAGES:
        if not (runtime / name).exists():
            (runtime / name).symlink_to(site / name)
    return runtime
