"""Deployment operations behind the `admin` routes and the CLI: create versions, read aliases
and versions, change routing (checked against the stored versions, with optimistic
concurrency), roll back, read history. Each write refreshes this process's cache, so the
process that made a change serves it at once; the others within REGISTRY_CACHE_SECONDS.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chalicelib import aws
from chalicelib.api.edge import validation_details
from chalicelib.config.invocable import invocation_problem
from chalicelib.config.registry import Registry, load_registry
from chalicelib.config.settings import get_settings
from chalicelib.deployments.cache import RegistryCache
from chalicelib.deployments.models import RoutingRequest, VersionRequest
from chalicelib.deployments.resolve import build_deployment
from chalicelib.deployments.routing import champion, routing_problems
from chalicelib.errors import InvalidRequest, InvalidState, NotFound
from chalicelib.observability import logger
from chalicelib.storage.codec import now_iso
from chalicelib.storage.registry import AliasRecord, RegistryStore, VersionRecord

#: Version fields never shown (names of where a provider key lives are not for every admin log).
HIDDEN_FIELDS = ("api_key_env", "api_key_secret_arn")


def alias_view(alias: AliasRecord) -> dict[str, Any]:
    return {
        "name": alias.name,
        "routes": alias.routes,
        "shadow": alias.shadow,
        "champion": champion(alias.routes),
        "revision": alias.revision,
        "latest_version": alias.latest_version,
        "updated_at": alias.updated_at,
    }


def version_view(record: VersionRecord) -> dict[str, Any]:
    spec = {k: v for k, v in record.spec.items() if k not in HIDDEN_FIELDS}
    return {
        "name": record.name,
        "version": record.version,
        **spec,
        "created_at": record.created_at,
        "source": record.source,
        "status": record.status,
    }


def _alias(store: RegistryStore, name: str) -> AliasRecord:
    alias = store.get_alias(name)
    if alias is None:
        raise NotFound(f"No deployment named {name!r}.")
    return alias


def version_spec(
    name: str, request: VersionRequest, registry: Registry | None = None
) -> dict[str, Any]:
    """The stored fields of a version of `name`, validated as a registry entry (a 400 naming
    the field otherwise), calling a Bedrock model the stage's roles may invoke (`registry`:
    the registry file, read from MODELS_FILE when not given)."""
    if request.name is not None and request.name != name:
        reason = f"must be {name!r} (the path's name) or left out"
        raise InvalidRequest(
            "The version names another deployment.", details=[{"field": "name", "reason": reason}]
        )
    spec = request.model_dump(mode="json", exclude={"name", "source"}, exclude_none=True)
    try:
        deployment = build_deployment(name, spec)
    except ValidationError as exc:
        raise InvalidRequest("The version is not valid.", details=validation_details(exc)) from None
    if deployment.provider == "bedrock":
        seed = registry or load_registry(get_settings().models_file)
        problem = invocation_problem(deployment.model_id, seed, aws.region())
        if problem:
            raise InvalidRequest(
                "The stage's roles may not invoke this model.",
                details=[{"field": "model_id", "reason": problem}],
            )
    return spec


def create_version(
    store: RegistryStore,
    cache: RegistryCache | None,
    name: str,
    request: VersionRequest,
    caller: str | None = None,
    registry: Registry | None = None,
) -> dict[str, Any]:
    spec = version_spec(name, request, registry)
    source = dict(request.source) or ({"caller": caller} if caller else {})
    record, new_alias = store.create_version(name, spec, source, now_iso())
    logger.info(
        "deployment version created",
        extra={"model": name, "version": record.version, "new_alias": new_alias},
    )
    if cache is not None:
        cache.invalidate()
    return version_view(record)


def list_deployments(store: RegistryStore) -> dict[str, Any]:
    return {"deployments": [alias_view(a) for a in store.list_aliases()]}


def get_deployment(store: RegistryStore, name: str) -> dict[str, Any]:
    alias = _alias(store, name)
    return {**alias_view(alias), "versions": [version_view(v) for v in store.list_versions(name)]}


def version_number(name: str, text: str) -> int:
    """A path's `{version}`: a positive integer, else no such version (404)."""
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) < 1:
        raise NotFound(f"Deployment {name!r} has no version {text!r}.")
    return int(text)


def get_version(store: RegistryStore, name: str, version: int) -> dict[str, Any]:
    _alias(store, name)
    record = store.get_version(name, version)
    if record is None:
        raise NotFound(f"Deployment {name!r} has no version {version}.")
    return version_view(record)


def check_routing(store: RegistryStore, name: str, routing: dict[str, Any]) -> None:
    """400 naming the field: a malformed split, or a version unknown or retired."""
    problems = routing_problems(routing["routes"], routing["shadow"])
    versions = {v.version: v for v in store.list_versions(name)}
    targets = [(f"routes.{i}.version", r["version"]) for i, r in enumerate(routing["routes"])]
    targets += [(f"shadow.{i}", v) for i, v in enumerate(routing["shadow"])]
    for field, number in targets:
        if number not in versions:
            problems.append({"field": field, "reason": f"version {number} does not exist"})
        elif versions[number].status != "active":
            problems.append({"field": field, "reason": f"version {number} is retired"})
    if problems:
        raise InvalidRequest("The routing is not valid.", details=problems)


def _change(
    store: RegistryStore,
    cache: RegistryCache | None,
    name: str,
    routing: dict[str, Any],
    expected_revision: int,
    reason: str,
    caller: str | None,
) -> dict[str, Any]:
    alias = store.set_routing(name, routing, expected_revision, reason, caller, now_iso())
    logger.info(
        "deployment routing changed",
        extra={"model": name, "revision": alias.revision, "routing": routing, "reason": reason},
    )
    if cache is not None:
        cache.invalidate()
    return alias_view(alias)


def set_routing(
    store: RegistryStore,
    cache: RegistryCache | None,
    name: str,
    request: RoutingRequest,
    caller: str | None = None,
) -> dict[str, Any]:
    """Route `name` as asked if nobody changed it since `expected_revision` (409 otherwise)."""
    _alias(store, name)
    routing = {
        "routes": [{"version": r.version, "weight": r.weight} for r in request.routes],
        "shadow": list(request.shadow),
    }
    check_routing(store, name, routing)
    reason = request.reason or "routing"
    return _change(store, cache, name, routing, request.expected_revision, reason, caller)


def rollback(
    store: RegistryStore, cache: RegistryCache | None, name: str, caller: str | None = None
) -> dict[str, Any]:
    """Back to the routing before the last change, recorded as a change itself (reason
    "rollback"; rolling back a rollback re-applies what it undid). 409 invalid_state when the
    routing never changed."""
    alias = _alias(store, name)
    changes = store.history(name)
    if not changes:
        raise InvalidState(f"Deployment {name!r} has no routing change to roll back.")
    previous = changes[-1].from_routing
    try:
        check_routing(store, name, previous)
    except InvalidRequest as exc:  # e.g. a version retired since: routing never targets it
        raise InvalidState(
            f"Deployment {name!r} cannot go back to its previous routing.", details=exc.details
        ) from None
    return _change(store, cache, name, previous, alias.revision, "rollback", caller)


def history(store: RegistryStore, name: str) -> dict[str, Any]:
    _alias(store, name)
    entries = [
        {
            "revision": e.revision,
            "at": e.at,
            "from": e.from_routing,
            "to": e.to_routing,
            "reason": e.reason,
            "caller": e.caller,
        }
        for e in store.history(name)
    ]
    return {"name": name, "history": entries}
