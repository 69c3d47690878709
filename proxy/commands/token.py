"""``lava-sidecar token``: print a forward token for one customer and meter, for debugging."""

from __future__ import annotations

import argparse
import sys

HELP = """Print a Lava forward token for a customer and meter (for curl and debugging).

The token embeds your secret key (base64, not encrypted): treat it as a secret.
Reads the key from LAVA_SECRET_KEY / LAVA_SECRET_KEY_FILE or the config file."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customer", metavar="ID", help="Lava customer id (omit: bill the merchant)")
    parser.add_argument("--meter", metavar="SLUG", help="meter slug")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $LAVA_SIDECAR_CONFIG)")
    parser.add_argument("--disable-billing", action="store_true",
                        help="track the customer without charging (Lava's disable_billing)")


def run(args: argparse.Namespace) -> int:
    from ..config import load_settings
    from ..errors import ConfigError
    from ..identity import CUSTOMER_ID_RE, METER_SLUG_RE
    from ..tokens import Billing, mint

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if args.customer and not args.meter:
        print("--customer needs --meter: Lava pairs a customer with a meter", file=sys.stderr)
        return 2
    if args.customer and not CUSTOMER_ID_RE.fullmatch(args.customer):
        print("--customer: use 1-128 characters from A-Z a-z 0-9 . _ : -", file=sys.stderr)
        return 2
    if args.meter and not METER_SLUG_RE.fullmatch(args.meter):
        print("--meter: use 1-128 characters from A-Z a-z 0-9 . _ -", file=sys.stderr)
        return 2
    token = mint(settings.secret_key, Billing(args.customer, args.meter,
                                               disable_billing=args.disable_billing))
    sys.stdout.write(token + "\n")
    return 0
