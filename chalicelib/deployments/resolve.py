"""Model names resolved against one registry snapshot: `name` is the alias (its champion, or the
version its split chooses), `name@N` is version N of it.

A retired version can still be named with `@N` (evaluations of old versions), but routing never
targets it (the routing service refuses it). Versions are immutable, so a new view reuses the
validated `Deployment` of every version the previous view already had.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chalicelib.config.registry import Deployment
from chalicelib.deployments.routing import champion, choose
from chalicelib.errors import NotFound
from chalicelib.observability import logger
from chalicelib.storage.registry import AliasRecord, Snapshot, VersionRecord

_VERSIONED = re.compile(r"^(?P<name>[^@]+)@(?P<version>[1-9][0-9]{0,9})$")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The version that answers: its deployment (named as the alias), its number, and the
    alias's shadow versions (for shadow traffic)."""

    deployment: Deployment
    version: int
    shadow: tuple[int, ...] = ()
    #: Named as `name@N`: an explicit call of one version, not routed traffic (no shadow copy).
    pinned: bool = False

    @property
    def copies(self) -> tuple[int, ...]:
        """The shadow versions that get a copy of this request (routed traffic only)."""
        return () if self.pinned else tuple(v for v in self.shadow if v != self.version)


def split_name(model: str) -> tuple[str, int | None]:
    """`name` → (name, None); `name@N` → (name, N). NotFound for any other `@` spelling."""
    if "@" not in model:
        return model, None
    parts = _VERSIONED.match(model)
    if parts is None:
        raise NotFound(f"No deployment version {model!r}; name one as 'name@N'.")
    return parts["name"], int(parts["version"])


def build_deployment(name: str, spec: dict[str, Any]) -> Deployment:
    """A version's registry entry as the serving code takes it (named as its alias)."""
    return Deployment.model_validate({**spec, "name": name})


class RegistryView:
    """One snapshot, ready to resolve names (what `RegistryCache.view()` returns)."""

    def __init__(self, snapshot: Snapshot, previous: RegistryView | None = None) -> None:
        self.snapshot = snapshot
        known = previous.built if previous is not None else {}
        self.built: dict[tuple[str, int], Deployment] = {}
        for key, record in snapshot.versions.items():
            if key in known:
                self.built[key] = known[key]
                continue
            try:
                self.built[key] = build_deployment(record.name, record.spec)
            except ValidationError:  # written by a newer or older release: skip, say so
                logger.warning("unreadable registry version", extra={"model": key[0]})

    def alias(self, name: str) -> AliasRecord:
        alias = self.snapshot.aliases.get(name)
        if alias is None:
            raise NotFound(f"No deployment named {name!r}.")
        return alias

    def version(self, name: str, version: int) -> tuple[VersionRecord, Deployment]:
        self.alias(name)
        key = (name, version)
        if key not in self.built:
            raise NotFound(f"Deployment {name!r} has no version {version}.")
        return self.snapshot.versions[key], self.built[key]

    def resolve(self, model: str, routing_key: str | None = None) -> Resolved:
        """The version answering `model` for this request (see the module docstring)."""
        name, pinned = split_name(model)
        alias = self.alias(name)
        number = pinned if pinned is not None else choose(name, alias.routes, routing_key)
        _, deployment = self.version(name, number)
        return Resolved(deployment, number, tuple(alias.shadow), pinned is not None)

    def champion(self, name: str) -> Resolved:
        """The alias's largest-weight version (what a bare name means in an evaluation)."""
        alias = self.alias(name)
        number = champion(alias.routes)
        return Resolved(self.version(name, number)[1], number, tuple(alias.shadow))

    def get(self, model: str) -> Deployment:
        """`model`'s deployment: a bare alias is its champion (feedback and other routes that
        need the deployment's settings, not a routed version)."""
        name, pinned = split_name(model)
        if pinned is None:
            return self.champion(name).deployment
        return self.version(name, pinned)[1]

    def pinned(self, names: Sequence[str], field: str | None = "models") -> dict[str, int]:
        """Each name's version now: `name@N` is N, a bare alias its champion. NotFound as
        `select` raises it."""
        found: dict[str, int] = {}
        for i, model in enumerate(names):
            name, pinned = split_name(model)
            try:
                if pinned is None:
                    found[model] = self.champion(name).version
                else:
                    self.version(name, pinned)
                    found[model] = pinned
            except NotFound as exc:
                raise _unknown(exc, field, i, model) from None
        return found

    def select(
        self,
        names: Sequence[str],
        field: str | None = "models",
        versions: dict[str, int] | None = None,
    ) -> list[Deployment]:
        """The named deployments in order, each named as given (so `name@N` and `name` can be
        compared side by side in one evaluation); `versions` pins names resolved earlier (a job
        keeps the versions it resolved at submission). NotFound names the first unknown one
        and, given `field`, its place (`{field}.{index}`) in `details`."""
        chosen: list[Deployment] = []
        for i, model in enumerate(names):
            try:
                name, pinned = split_name(model)
                number = (versions or {}).get(model, pinned)
                deployment = (
                    self.champion(name).deployment
                    if number is None
                    else self.version(name, number)[1]
                )
            except NotFound as exc:
                raise _unknown(exc, field, i, model) from None
            if model != deployment.name:
                # Not re-validated: `@` is outside a deployment name's pattern on purpose.
                deployment = deployment.model_copy(update={"name": model})
            chosen.append(deployment)
        return chosen

    @property
    def deployments(self) -> list[Deployment]:
        """Every alias's champion, by name (the model list)."""
        found = []
        for name in sorted(self.snapshot.aliases):
            try:
                found.append(self.champion(name).deployment)
            except NotFound:
                continue
        return found

    def all_versions(self) -> list[Deployment]:
        """Every stored version's deployment (IAM: the models the API may call)."""
        return list(self.built.values())


def _unknown(exc: NotFound, field: str | None, index: int, model: str) -> NotFound:
    """The lookup's NotFound, its `details` naming the place (`{field}.{index}`) when given."""
    where = (
        None
        if field is None
        else [{"field": f"{field}.{index}", "reason": f"unknown model {model!r}"}]
    )
    return NotFound(exc.message, details=where)
