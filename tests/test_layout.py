"""The package layout's rules: no private name (`_x`) is imported from another package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package(module: str) -> str:
    """`chalicelib.api.models` -> `chalicelib.api`; a package names itself."""
    path = ROOT.joinpath(*module.split("."))
    return module if path.is_dir() else module.rpartition(".")[0]


def test_no_private_name_is_imported_across_packages() -> None:
    offenders = []
    for path in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]:
        relative = path.relative_to(ROOT).with_suffix("")
        importer = ".".join(relative.parts[:-1]) or "(top)"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "chalicelib"
            ):
                continue
            assert node.module is not None
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and _package(node.module) != importer:
                    offenders.append(f"{relative}:{node.lineno} {node.module}.{alias.name}")
    assert offenders == []
