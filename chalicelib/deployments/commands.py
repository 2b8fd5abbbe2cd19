"""CLI: `deployments` (list / show NAME / create-version NAME --file F), `route NAME 3=90 4=10
[--shadow 5] [--expected-revision N]`, `promote NAME 2 --evaluation ID | --force REASON`,
`rollback NAME`.

These talk to the registry table directly with the operator's AWS credentials, like
`bootstrap` and `create-api-key`: an operator changing what answers needs no API key and no
running API (routing must be changeable while the API is unhealthy), and IAM on the table is the
guard. They go through the same service as the `admin` routes (same validation, same history;
the caller is recorded as `cli`), and the API serves the change within REGISTRY_CACHE_SECONDS.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chalicelib.cli_output import print_json, print_refusal
from chalicelib.errors import ConfigurationError, TunegateError

CLI_CALLER = "cli"


def _store(args: argparse.Namespace) -> Any:
    from chalicelib.config.settings import install_settings
    from chalicelib.storage.registry import DynamoRegistryStore

    return DynamoRegistryStore(install_settings(args.environment).registry_table)


def run_deployments(args: argparse.Namespace) -> int:
    from chalicelib.deployments import service
    from chalicelib.deployments.models import VersionRequest

    store = _store(args)
    try:
        if args.action == "list":
            for alias in service.list_deployments(store)["deployments"]:
                routes = " ".join(f"v{r['version']}={r['weight']}" for r in alias["routes"])
                shadow = " ".join(f"v{v}" for v in alias["shadow"])
                extra = f" shadow {shadow}" if shadow else ""
                print(f"{alias['name']}  {routes}{extra}  (revision {alias['revision']})")
        elif args.action == "show":
            print_json(service.get_deployment(store, args.name))
        else:
            try:
                body = VersionRequest.model_validate(json.loads(Path(args.file).read_text()))
            except (OSError, json.JSONDecodeError, ValidationError) as exc:
                raise ConfigurationError(f"{args.file}: {exc}") from exc
            print_json(service.create_version(store, None, args.name, body, CLI_CALLER))
    except TunegateError as exc:
        return print_refusal(exc)
    except ConfigurationError as exc:
        print(f"error: {exc}")
        return 1
    return 0


def _route_pair(text: str) -> tuple[int, int]:
    version, _, weight = text.partition("=")
    try:
        return int(version), int(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give VERSION=WEIGHT, e.g. 3=90") from None


def run_route(args: argparse.Namespace) -> int:
    from chalicelib.deployments import service
    from chalicelib.deployments.models import RoutingRequest

    store = _store(args)
    try:
        revision = args.expected_revision
        if revision is None:  # the current one: "route it like this, whatever it was"
            revision = service.get_deployment(store, args.name)["revision"]
        request = RoutingRequest.model_validate(
            {
                "routes": [{"version": v, "weight": w} for v, w in args.routes],
                "shadow": args.shadow or [],
                "expected_revision": revision,
                "reason": args.reason,
            }
        )
        print_json(service.set_routing(store, None, args.name, request, CLI_CALLER))
    except ValidationError as exc:
        print(f"error: {exc}")
        return 1
    except TunegateError as exc:
        return print_refusal(exc)
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    from chalicelib.deployments import service

    try:
        print_json(service.rollback(_store(args), None, args.name, CLI_CALLER))
    except TunegateError as exc:
        return print_refusal(exc)
    return 0


def run_promote(args: argparse.Namespace) -> int:
    """The gate reads the evaluation job from the stage's evaluations table and results bucket
    (the operator's credentials, like the registry table)."""
    from chalicelib.auth.scopes import SCOPES, KeyEntry
    from chalicelib.config.settings import get_settings
    from chalicelib.deployments.models import PromoteRequest
    from chalicelib.deployments.promotion import job_evidence, promote
    from chalicelib.jobs.context import get_job_context

    store = _store(args)
    try:
        request = PromoteRequest.model_validate(
            {"version": args.version, "evaluation_id": args.evaluation, "force_reason": args.force}
        )
        operator = KeyEntry(CLI_CALLER, frozenset(SCOPES))  # may read every evaluation

        def evidence(evaluation_id: str) -> Any:
            return job_evidence(get_job_context(), evaluation_id, operator)

        max_drop = get_settings().promotion_max_drop  # installed by _store
        print_json(promote(store, None, args.name, request, evidence, CLI_CALLER, max_drop))
    except ValidationError as exc:
        print(f"error: {exc}")
        return 1
    except TunegateError as exc:
        if exc.code == "promotion_rejected" and exc.details:  # the comparison, whole
            print(f"error ({exc.code}): {exc.message}")
            print_json(exc.details[0])
            return 1
        return print_refusal(exc)
    return 0


def register(subparsers: Any) -> None:
    deployments = subparsers.add_parser(
        "deployments", help="list, show or add versions of deployments (the registry table)"
    )
    actions = deployments.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="aliases with their routing")
    show = actions.add_parser("show", help="an alias, its routing, revision and versions")
    show.add_argument("name")
    create = actions.add_parser(
        "create-version", help="add the next version of NAME from a registry entry (JSON file)"
    )
    create.add_argument("name")
    create.add_argument("--file", required=True, help="a registry entry (its name optional)")
    deployments.set_defaults(handler=run_deployments)

    route = subparsers.add_parser("route", help="change an alias's traffic split")
    route.add_argument("name")
    route.add_argument("routes", nargs="+", type=_route_pair, metavar="VERSION=WEIGHT")
    route.add_argument("--shadow", type=int, action="append", metavar="VERSION")
    route.add_argument(
        "--expected-revision",
        type=int,
        help="refuse (409 conflict) if the alias changed since this revision (default: current)",
    )
    route.add_argument("--reason", help="kept in the history")
    route.set_defaults(handler=run_route)

    promote = subparsers.add_parser(
        "promote", help="route 100%% to VERSION when the evaluation gate passes (or --force)"
    )
    promote.add_argument("name")
    promote.add_argument("version", type=int)
    basis = promote.add_mutually_exclusive_group(required=True)
    basis.add_argument("--evaluation", metavar="ID", help="a finished evaluation of both versions")
    basis.add_argument("--force", metavar="REASON", help="skip the gate; the reason is kept")
    promote.set_defaults(handler=run_promote)

    rollback = subparsers.add_parser("rollback", help="back to the routing before the last change")
    rollback.add_argument("name")
    rollback.set_defaults(handler=run_rollback)
