"""The feedback widget's script, shipped inside chalicelib so Chalice packages it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from chalicelib.errors import NotFound

_SCRIPT = Path(__file__).resolve().parent / "static" / "feedback.js"


@lru_cache(maxsize=1)
def widget_script() -> str:
    try:
        return _SCRIPT.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound("The feedback widget is not bundled with this build.") from None
