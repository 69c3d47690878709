"""``lava-sidecar reconcile``: the usage log against what Lava billed. Exit 0 when everything
agrees within the tolerance, 1 when something disagrees, 2 when it could not run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..secret import Secret

HELP = """Audit Lava's bill against the sidecar's usage log, request by request.

Reads the usage log (every rotation: PATH.1, PATH.2.gz, …), fetches Lava's request records
for the same window (GET /v1/requests, every page) and joins them on Lava's request id. Prints,
per customer and meter, requests, tokens and charges on each side and the difference, then every
request that disagrees. Partial records (responses cut short) are shown as expected differences.

Uses LAVA_SECRET_KEY (or LAVA_SECRET_KEY_FILE) and LAVA_GATEWAY_URL (default https://api.lava.so;
the local dev gateway is e.g. http://127.0.0.1:8788).

  lava-sidecar reconcile --usage-log /var/log/lava-sidecar/usage.jsonl --since 2026-12-01
  lava-sidecar reconcile --usage-log usage.jsonl --customer cus_123 --json

Exit status: 0 everything agrees, 1 something disagrees, 2 could not run."""

AGREE, DISAGREE, FAILED = 0, 1, 2
#: Seconds between progress lines on stderr while fetching from Lava.
PROGRESS_EVERY = 2.0


def when(text: str) -> float:
    """ISO 8601 (a date alone means its midnight); no offset means UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-12-01 or 2026-12-01T09:00:00-05:00, "
            f"got {text[:80]!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def tolerance(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of tokens >= 0, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--usage-log", nargs="+", required=True, metavar="PATH",
                        help="the usage log (its rotations are found beside it); repeatable")
    parser.add_argument("--since", type=when, metavar="ISO",
                        help="from this time (default: the log's beginning)")
    parser.add_argument("--until", type=when, metavar="ISO", help="up to this time (default: now)")
    parser.add_argument("--customer", metavar="ID", help="only this Lava customer")
    parser.add_argument("--tolerance-tokens", type=tolerance, default=0, metavar="N",
                        help="input and output tokens may each differ by N per request (0)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--gateway", metavar="URL",
                        help="Lava's API base URL (default: $LAVA_GATEWAY_URL)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="S",
                        help="seconds per call to Lava (30)")


def _secret() -> Secret | None:
    """The environment's key through the one reader every command shares (``secret.py``)."""
    from ..secret import SecretFileError, merchant_key_from_env
    from .sources import ReconcileFailed

    try:
        return merchant_key_from_env()
    except SecretFileError as exc:
        raise ReconcileFailed(str(exc)) from exc


class _Progress:
    """A line on stderr every few seconds while Lava's pages come in, and one at the end."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, pages: int, kept: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            print(f"reconcile: {pages} pages of Lava request records read, {kept} in the window…",
                  file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from .core import Window
    from .render import to_json, to_text
    from .sources import ReconcileFailed, audit

    def failed(sentence: str) -> int:
        print(f"reconcile: {sentence}", file=sys.stderr)
        if args.json:  # a script still gets its one document
            print(json.dumps({"agree": None, "error": sentence}))
        return FAILED

    window = Window(args.since, args.until if args.until is not None else time.time())
    if window.since is not None and window.until is not None and window.since >= window.until:
        return failed("--since must be before --until")
    if args.timeout <= 0:
        return failed("--timeout must be above 0")

    def say(note: str) -> None:
        print(f"reconcile: {note}", file=sys.stderr, flush=True)

    try:
        report, inputs = audit(args.usage_log, window, customer=args.customer,
                               tolerance_tokens=args.tolerance_tokens, base_url=args.gateway,
                               secret_key=_secret(), timeout=args.timeout, progress=_Progress(),
                               said=say)
    except ReconcileFailed as exc:
        return failed(exc.message)
    except Exception as exc:  # a bug: still one sentence, and never a key (no repr of state)
        return failed(f"failed unexpectedly ({type(exc).__name__}); this is a bug, please "
                      "report it")
    print(to_json(report, inputs) if args.json else to_text(report, inputs))
    return AGREE if report.agrees else DISAGREE
