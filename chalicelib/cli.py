"""Command-line interface: `python -m chalicelib.cli COMMAND` (see CONTRACT section 1).

Reads the same configuration as the app: the stage's environment variables from
`.chalice/config.json`, with variables already set in the process taking precedence. The
commands that need settings parse them from that mapping (`args.environment`); nothing is
exported into the process but the variables boto3 and Powertools read themselves.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from chalicelib.cli_output import quiet_on_broken_pipe
from chalicelib.config.stages import stage_process_environment
from chalicelib.dataprep.commands import register as register_dataprep
from chalicelib.deployments.commands import register as register_deployments
from chalicelib.evaluation.commands import register as register_evaluation
from chalicelib.provisioning.commands import after_tune
from chalicelib.provisioning.commands import register as register_provisioning
from chalicelib.tuning.commands import AFTER_WAIT
from chalicelib.tuning.commands import register as register_tuning


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__)
    parser.add_argument("--stage", default="local", help="stage in .chalice/config.json")
    subparsers = parser.add_subparsers(dest="command", required=True)
    bootstrap = subparsers.add_parser(
        "bootstrap", help="create the stage's tables, queues and buckets (idempotent)"
    )
    bootstrap.set_defaults(handler=_bootstrap)
    policy = subparsers.add_parser(
        "policy",
        help="write each function's .chalice/policy-<stage>[-worker|-authorizer|"
        "-bearer_authorizer].json from the stage's registry",
    )
    policy.add_argument("--account-id", required=True, help="12-digit AWS account id")
    policy.add_argument("--region", required=True)
    policy.add_argument("--out", help="folder to write them to (default .chalice)")
    policy.set_defaults(handler=_policy)
    create_key = subparsers.add_parser(
        "create-api-key",
        help="make an API key, print it once, store only its hash (API_KEY_HASHES_PARAMETER)",
    )
    create_key.add_argument(
        "--usage-plan-id",
        help="also add the key's hash to this API Gateway usage plan (stack output "
        "ApiKeyUsagePlanId), so the gateway throttles the key on its own",
    )
    create_key.add_argument(
        "--scopes",
        type=_scopes_argument,
        default=None,
        help="comma-separated scopes of the key: invoke, evaluate, admin (default: all three)",
    )
    create_key.set_defaults(handler=_create_api_key)
    revoke_key = subparsers.add_parser(
        "revoke-api-key",
        help="take a key's hash out of API_KEY_HASHES_PARAMETER and delete its API Gateway key",
    )
    which = revoke_key.add_mutually_exclusive_group(required=True)
    which.add_argument("--key-hash", help="the key's SHA-256 (printed by create-api-key)")
    which.add_argument("--key", help="the key itself (hashed here, never stored or sent)")
    revoke_key.add_argument(
        "--keep-gateway-key",
        action="store_true",
        help="do not look for the hash among API Gateway keys (no usage plan in this stage)",
    )
    revoke_key.set_defaults(handler=_revoke_api_key)
    spec = subparsers.add_parser("openapi", help="write the OpenAPI document (docs/openapi.json)")
    spec.add_argument("--out", help="file to write (default docs/openapi.json)")
    spec.set_defaults(handler=_openapi)
    register_dataprep(subparsers)
    register_evaluation(subparsers)
    register_deployments(subparsers)
    register_provisioning(subparsers)
    # `tune … --wait` then runs chalicelib.tuning.commands.AFTER_WAIT (provision, register).
    register_tuning(subparsers)
    if after_tune not in AFTER_WAIT:
        AFTER_WAIT.append(after_tune)
    return parser


def _openapi(args: argparse.Namespace) -> int:
    import json

    from chalicelib.api.openapi import document
    from chalicelib.config.stages import PROJECT_DIR

    out = args.out or PROJECT_DIR / "docs" / "openapi.json"
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(document(), handle, indent=2, sort_keys=True)
        handle.write("\n")
    print(f"wrote {out}")
    return 0


def _scopes_argument(text: str) -> frozenset[str]:
    from chalicelib.auth.scopes import parse_scopes

    try:
        return parse_scopes(text, ",")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _create_api_key(args: argparse.Namespace) -> int:
    from chalicelib.auth.commands import create_api_key
    from chalicelib.auth.scopes import SCOPES, join_scopes
    from chalicelib.config.settings import install_settings

    parameter = install_settings(args.environment).api_key_hashes_parameter
    scopes = args.scopes or frozenset(SCOPES)
    key, entry, stored = create_api_key(parameter, args.usage_plan_id, args.stage, scopes)
    digest = entry.partition(":")[0]
    print(f"API key (shown once, not stored): {key}")
    print(f"Its SHA-256 (to revoke it): {digest}")
    print(f"Its scopes: {join_scopes(scopes).replace('+', ', ')}")
    if args.usage_plan_id:
        print(f"The hash is an API Gateway key in usage plan {args.usage_plan_id}.")
    if stored is None:
        print(f"No API_KEY_HASHES_PARAMETER for stage {args.stage}: add to API_KEY_HASHES: {entry}")
    else:
        print(f"Its entry {entry} was added to {parameter} ({stored} key(s) now valid).")
    return 0


def _revoke_api_key(args: argparse.Namespace) -> int:
    import re

    from chalicelib.auth.commands import revoke_api_key
    from chalicelib.auth.keys import hash_api_key
    from chalicelib.config.settings import install_settings

    # The stored entry (`HASH:scope+scope`) is accepted too: only its hash names the key.
    digest = hash_api_key(args.key) if args.key else args.key_hash.strip().lower().partition(":")[0]
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        print("--key-hash must be a hex SHA-256 digest", file=sys.stderr)
        return 2
    parameter = install_settings(args.environment).api_key_hashes_parameter
    removed, deleted = revoke_api_key(parameter, digest, gateway=not args.keep_gateway_key)
    where = parameter or "(no API_KEY_HASHES_PARAMETER: edit API_KEY_HASHES yourself)"
    print(f"{where}: {'hash removed' if removed else 'hash was not there'}")
    if not args.keep_gateway_key:
        print(f"API Gateway keys deleted: {deleted}")
    print("Refused everywhere within about 10 minutes (hash cache + authorizer TTL).")
    return 0 if removed or deleted else 1


def _policy(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from chalicelib.config.registry import load_registry
    from chalicelib.config.settings import install_settings
    from chalicelib.config.stages import PROJECT_DIR
    from chalicelib.deploy.iam import function_policies, policy_file

    settings = install_settings(args.environment)
    registry = load_registry(settings.models_file)
    folder = Path(args.out) if args.out else PROJECT_DIR / ".chalice"
    policies = function_policies(registry, settings, account_id=args.account_id, region=args.region)
    for function, document in policies.items():
        out = folder / policy_file(args.stage, function)
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        print(f"wrote {out}")
    return 0


def _bootstrap(args: argparse.Namespace) -> int:
    from chalicelib.config.settings import install_settings
    from chalicelib.deploy.bootstrap import bootstrap_resources

    for line in bootstrap_resources(install_settings(args.environment)):
        print(line)
    return 0


class _CurrentStderr:
    """Whatever `sys.stderr` is at each write (a caller may swap it, as pytest does)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def logs_to_stderr() -> None:
    """The services log JSON lines (to stdout, as Lambda collects them); a command's stdout is
    its answer (JSON, a table), so here the same lines go to stderr."""
    from chalicelib.observability import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(_CurrentStderr())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.environment = stage_process_environment(args.stage)
    logs_to_stderr()
    return quiet_on_broken_pipe(lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
