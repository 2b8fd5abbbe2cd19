"""Add compiled bytecode to the Lambda bundle, so cold starts do not compile Python source.

Lambda unpacks the bundle into the read-only /var/task: without `__pycache__` entries every
cold start compiles each imported module (ours, pydantic, Powertools) and cannot keep the
result, which costs ~200 ms. Each `.py` gets its `__pycache__/<name>.<cache tag>.pyc`, with
unchecked-hash invalidation (PEP 552): the interpreter uses it without comparing timestamps or
hashing the source, so zip and extraction timestamps do not matter. Bytecode is only valid for
one Python minor version: the template's Runtime must be the interpreter running this step (the
one Chalice picked it from), which is checked rather than assumed.

Run by `make package` after `chalice package`: `python -m devstack.lambda_bytecode out/`.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath

UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, "check_source" bit off


def runtime_of(template: Path) -> str:
    """The one Python runtime of the template's functions (e.g. "python3.11")."""
    resources = json.loads(template.read_text())["Resources"].values()
    properties = [r.get("Properties", {}) for r in resources]
    runtimes = {p["Runtime"] for p in properties if "Runtime" in p}
    if len(runtimes) != 1:
        raise ValueError(f"expected one Python runtime in {template}, found {sorted(runtimes)}")
    return runtimes.pop()


def interpreter_runtime() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def pyc_name(source: str) -> str:
    """`pkg/mod.py` -> `pkg/__pycache__/mod.cpython-311.pyc` (this interpreter's cache tag)."""
    path = PurePosixPath(source)
    return str(path.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc")


def unchecked_pyc(source: bytes, filename: str) -> bytes:
    """The .pyc file for `source`, as `py_compile` writes it with UNCHECKED_HASH."""
    code = compile(source, filename, "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + UNCHECKED_HASH_FLAGS.to_bytes(4, "little")
    return header + importlib.util.source_hash(source) + marshal.dumps(code)


def add_bytecode(bundle: Path, runtime: str) -> tuple[int, list[str]]:
    """Rewrite `bundle` with a .pyc per .py; any .pyc already in it (pip's timestamp-checked
    ones from vendor/) is replaced. Returns (files compiled, sources that do not compile)."""
    if runtime != interpreter_runtime():
        raise SystemExit(
            f"the bundle targets {runtime} but this is {interpreter_runtime()}: bytecode is "
            "specific to a Python minor version, so build with the runtime's interpreter"
        )
    compiled, skipped = 0, []
    partial = bundle.with_suffix(".tmp")
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(partial, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith(".pyc"):
                continue
            data = src.read(info)
            dst.writestr(info, data)
            if not info.filename.endswith(".py"):
                continue
            try:
                pyc = unchecked_pyc(data, info.filename)
            except (SyntaxError, ValueError):
                skipped.append(info.filename)  # e.g. a template; it would fail to import anyway
                continue
            entry = zipfile.ZipInfo(pyc_name(info.filename), date_time=info.date_time)
            entry.external_attr = info.external_attr
            dst.writestr(entry, pyc, compress_type=zipfile.ZIP_DEFLATED)
            compiled += 1
    os.replace(partial, bundle)
    return compiled, skipped


def main(out: Path) -> None:
    compiled, skipped = add_bytecode(out / "deployment.zip", runtime_of(out / "sam.json"))
    print(f"bytecode for {interpreter_runtime()}: {compiled} modules compiled", end="")
    print(f", {len(skipped)} skipped: {', '.join(skipped)}" if skipped else "")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "out"))
