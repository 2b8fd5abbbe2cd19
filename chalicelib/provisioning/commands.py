"""CLI: `provision --name N --custom-model ARN|ft:… [--model-units N] [--commitment C
--confirm-commitment] [--on-demand] [--wait] [--register DEPLOYMENT]`, `register NAME
--deployment D`, `deprovision NAME`, `provisioned NAME` (its status).

Like `deployments`, these run the same service as the `admin` routes with the operator's AWS
credentials (no API key, no running API); the caller is recorded as `cli`. `--wait` shows the
status while the provider brings the model up; `provision_and_register` in `service` is what
`tune --wait --provision --register NAME` calls.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from chalicelib.cli_output import print_json, print_refusal
from chalicelib.errors import ConfigurationError, TunegateError

CLI_CALLER = "cli"


def context(args: argparse.Namespace) -> Any:
    """The provisioning context of the CLI's stage (the stage's tables, no registry cache)."""
    from chalicelib.config.registry import load_registry
    from chalicelib.config.settings import install_settings
    from chalicelib.provisioning.service import ProvisioningContext
    from chalicelib.storage.provisioned import DynamoProvisionedStore
    from chalicelib.storage.registry import DynamoRegistryStore

    settings = install_settings(args.environment)
    return ProvisioningContext(
        settings=settings,
        store=DynamoProvisionedStore(settings.provisioned_table),
        registry_store=DynamoRegistryStore(settings.registry_table),
        registry=load_registry(settings.models_file),
    )


def status_line(state: dict[str, Any]) -> None:
    """One line per poll on stderr: the status, and the hourly cost being paid."""
    cost = state.get("hourly_cost_usd")
    price = f", ${cost:.2f}/hour" if cost else ""
    print(f"{state['name']}: {state['status']}{price}", file=sys.stderr, flush=True)


def run_provision(args: argparse.Namespace) -> int:
    fields = {
        "name": args.name,
        "custom_model": args.custom_model,
        "commitment": args.commitment,
        "confirm_commitment": args.confirm_commitment,
    }
    return _provision(args, fields, wait=bool(args.wait or args.register))


def after_tune(args: argparse.Namespace, job: Mapping[str, Any]) -> int:
    """`tune --wait --provision [--register NAME]`: serve the finished job's custom model under
    the job's name and, given a deployment, register it as that deployment's next version."""
    if not (args.provision or args.register):
        return 0
    return _provision(args, {"name": job["name"], "custom_model": job["custom_model"]}, wait=True)


def _provision(args: argparse.Namespace, fields: dict[str, Any], *, wait: bool) -> int:
    """Create (and, with `wait`, wait for in service and register `args.register`), printing
    the result; `args` carries `on_demand`, `model_units`, `register`, `poll_seconds`."""
    from chalicelib.provisioning import service
    from chalicelib.provisioning.models import ProvisionRequest

    try:
        ctx = context(args)
        request = ProvisionRequest.model_validate(
            {
                **fields,
                "on_demand": args.on_demand,
                **({"model_units": args.model_units} if args.model_units is not None else {}),
            }
        )
        if wait:
            print_json(
                service.provision_and_register(
                    ctx,
                    request,
                    args.register,
                    owner=CLI_CALLER,
                    progress=status_line,
                    poll_seconds=args.poll_seconds,
                )
            )
        else:
            print_json(service.create(ctx, request, CLI_CALLER))
    except ValidationError as exc:
        print(f"error: {exc}")
        return 1
    except TunegateError as exc:
        return print_refusal(exc)
    except (ConfigurationError, TimeoutError) as exc:
        print(f"error: {exc}")
        return 1
    return 0


def run_register(args: argparse.Namespace) -> int:
    from chalicelib.provisioning import service
    from chalicelib.provisioning.models import RegisterRequest

    try:
        request = RegisterRequest(deployment=args.deployment)
        print_json(service.register(context(args), args.name, request, CLI_CALLER))
    except ValidationError as exc:
        print(f"error: {exc}")
        return 1
    except TunegateError as exc:
        return print_refusal(exc)
    return 0


def run_deprovision(args: argparse.Namespace) -> int:
    from chalicelib.provisioning import service

    try:
        print_json(service.delete(context(args), args.name))
    except TunegateError as exc:
        return print_refusal(exc)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from chalicelib.provisioning import service

    try:
        print_json(service.get(context(args), args.name))
    except TunegateError as exc:
        return print_refusal(exc)
    return 0


def register(subparsers: Any) -> None:
    provision = subparsers.add_parser(
        "provision", help="serve a custom model (Provisioned Throughput or on demand)"
    )
    provision.add_argument("--name", required=True, help="the provisioned model's name")
    provision.add_argument(
        "--custom-model", required=True, help="a Bedrock custom-model ARN or an OpenAI ft: model"
    )
    provision.add_argument("--model-units", type=int, help="Provisioned Throughput units (1)")
    provision.add_argument(
        "--commitment", choices=["none", "OneMonth", "SixMonths"], default="none"
    )
    provision.add_argument(
        "--confirm-commitment",
        action="store_true",
        help="buy the commitment (billed for its whole term)",
    )
    provision.add_argument(
        "--on-demand", action="store_true", help="a custom model deployment, billed per token"
    )
    provision.add_argument("--wait", action="store_true", help="until in service, with progress")
    provision.add_argument(
        "--register", metavar="DEPLOYMENT", help="then register it as DEPLOYMENT's next version"
    )
    provision.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    provision.set_defaults(handler=run_provision)

    reg = subparsers.add_parser(
        "register", help="a deployment version calling a provisioned model, in its trained format"
    )
    reg.add_argument("name", help="the provisioned model")
    reg.add_argument("--deployment", required=True)
    reg.set_defaults(handler=run_register)

    deprovision = subparsers.add_parser("deprovision", help="stop serving a provisioned model")
    deprovision.add_argument("name")
    deprovision.set_defaults(handler=run_deprovision)

    status = subparsers.add_parser("provisioned", help="a provisioned model's status and cost")
    status.add_argument("name")
    status.set_defaults(handler=run_status)
