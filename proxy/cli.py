"""The ``lava-sidecar`` command line: one subcommand per job, each module imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol

from . import __version__

DESCRIPTION = """\
lava-sidecar: a metering sidecar for AI traffic.

Your app changes only its base URL (OPENAI_BASE_URL=http://127.0.0.1:8787/v1,
ANTHROPIC_BASE_URL=http://127.0.0.1:8787/anthropic) and names the customer of each
request (header X-Lava-Customer-Id). The sidecar mints that customer's Lava forward
token, routes the request through Lava, streams the answer back untouched, and exports
the usage (Prometheus /metrics, a JSON-lines usage log, per-customer /usage totals).

Start here:
  lava-sidecar demo                      the whole flow locally, no account needed
  lava-sidecar dev-gateway --seed        a local Lava ready for README's quick start
  LAVA_SECRET_KEY=aks_live_… lava-sidecar serve
  lava-sidecar check-config --config config/sidecar.yaml
  lava-sidecar mcp --customer cus_123 --meter chat-tokens   agents (MCP) billed the same way
  lava-sidecar reconcile --usage-log usage.jsonl   audit Lava's bill against the usage log
"""


class Command(Protocol):
    """A subcommand module: ``HELP`` text, ``add_arguments(parser)`` and ``run(args) -> exit code``."""

    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


#: name → module. Modules keep heavy imports inside ``run`` so ``--help`` and ``serve`` start fast.
COMMANDS: dict[str, str] = {
    "serve": "proxy.commands.serve",
    "check-config": "proxy.commands.check_config",
    "token": "proxy.commands.token",
    "dev-gateway": "proxy.emulator.command",
    "billing": "proxy.billing.command",
    "demo": "proxy.demo.command",
    "mcp": "proxy.mcp.command",
    "reconcile": "proxy.reconcile.command",
}


def build_parser(names: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lava-sidecar", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"lava-sidecar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in names or COMMANDS:
        module: Command = importlib.import_module(COMMANDS[name])
        p = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Build only the chosen subcommand's parser when one is named: faster start, same --help.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    namespace = argparse.Namespace()
    if chosen == "serve":
        # First, before the imports and the config (~0.4 s): a SIGHUP or SIGTERM that early must
        # not kill the process (issue 24). A module of a few lines, importing only ``signal``.
        from .commands.startsignals import StartSignals

        namespace.start_signals = StartSignals.install()
    parser = build_parser([chosen] if chosen in COMMANDS else None)
    args = parser.parse_args(argv, namespace)
    module: Command | None = getattr(args, "_module", None)
    if module is None:
        parser.print_help()
        return 2
    return module.run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
