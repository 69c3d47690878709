"""``lava-sidecar check-config``: validate a config file, reporting every problem at once."""

from __future__ import annotations

import argparse
import sys

HELP = """Validate the configuration (file + environment) and list every problem, each with its key.

Exit status 0 when valid, 1 when not. Secrets are checked for presence, never printed."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: $LAVA_SIDECAR_CONFIG)")


def run(args: argparse.Namespace) -> int:
    from ..config import load_settings
    from ..errors import ConfigError

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    names = ", ".join(p.name for p in settings.providers)
    print(f"config OK: proxy on {settings.listen}, admin on {settings.admin_listen}, "
          f"gateway {settings.gateway.url}, secret key {settings.secret_key.hint()}, "
          f"providers: {names}")
    return 0
