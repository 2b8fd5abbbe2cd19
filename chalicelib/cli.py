"""Command-line interface: `python -m chalicelib.cli COMMAND` (see CONTRACT section 1).

Reads the same configuration as the app: the stage's environment variables from
`.chalice/config.json`, with variables already set in the process taking precedence.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chalicelib.dataprep.commands import register as register_dataprep
from chalicelib.settings import apply_stage_environment


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__)
    parser.add_argument("--stage", default="local", help="stage in .chalice/config.json")
    subparsers = parser.add_subparsers(dest="command", required=True)
    bootstrap = subparsers.add_parser(
        "bootstrap", help="create the stage's tables, queues and buckets (idempotent)"
    )
    bootstrap.set_defaults(handler=_bootstrap)
    register_dataprep(subparsers)
    return parser


def _bootstrap(args: argparse.Namespace) -> int:
    from chalicelib.bootstrap import bootstrap_resources

    for line in bootstrap_resources():
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_stage_environment(args.stage)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
