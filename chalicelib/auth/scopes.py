"""API key scopes (CONTRACT section 3): what a stored key entry may do, parsed in one place for
the app's check, the gateway authorizer and the key commands.

A stored entry is `HASH` (every scope: keys made before scopes existed keep working) or
`HASH:scope+scope`. Scopes are independent: `admin` does not imply `invoke` or `evaluate`; on a
route it may reach, it lifts ownership (an `evaluate+admin` key reads every evaluation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

Scope = Literal["invoke", "evaluate", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
_DIGEST = re.compile(r"[0-9a-f]{64}")
#: Hex characters of the key's hash that name it in records (evaluation owners) and logs.
OWNER_PREFIX_CHARS = 12


@dataclass(frozen=True)
class KeyEntry:
    """One stored key: its SHA-256 and the scopes it carries."""

    digest: str
    scopes: frozenset[Scope]

    @property
    def owner(self) -> str:
        """The hash prefix an evaluation records: enough to tell keys apart, never the key."""
        return self.digest[:OWNER_PREFIX_CHARS]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes

    def entry(self) -> str:
        """The stored form: the bare hash when it carries every scope."""
        if self.scopes == frozenset(SCOPES):
            return self.digest
        return f"{self.digest}:{join_scopes(self.scopes)}"


def join_scopes(scopes: frozenset[Scope] | set[Scope]) -> str:
    return "+".join(s for s in SCOPES if s in scopes)


def parse_scopes(text: str, separator: str) -> frozenset[Scope]:
    """`invoke+evaluate` (stored) or `invoke,evaluate` (the CLI); an unknown or empty scope
    is an error naming the allowed ones."""
    names = [part.strip().lower() for part in text.split(separator)]
    unknown = [n for n in names if n not in SCOPES]
    if unknown or not names:
        raise ValueError(f"unknown scope {unknown[0]!r}: use {', '.join(SCOPES)}")
    return frozenset(n for n in SCOPES if n in names)


@lru_cache(maxsize=1024)  # the same few entries are read on every request
def parse_key_entry(text: str) -> KeyEntry:
    """`HASH` or `HASH:scope+scope` → KeyEntry; ValueError for anything else."""
    digest, has_scopes, scopes = text.strip().lower().partition(":")
    if not _DIGEST.fullmatch(digest):
        raise ValueError("a key entry starts with a hex SHA-256 digest")
    if not has_scopes:
        return KeyEntry(digest, frozenset(SCOPES))
    return KeyEntry(digest, parse_scopes(scopes, "+"))
