"""The command line the bench tools that compare checkouts share: ``--base DIR`` and ``--rounds``."""

from __future__ import annotations

import argparse
from pathlib import Path


def compare_parser(prog: str, doc: str | None, *, rounds_help: str | None = None) -> argparse.ArgumentParser:
    """A parser with ``--base`` (another checkout, by its ``.venv/bin/lava-sidecar``; repeatable)
    and ``--rounds`` (interleaved rounds, default 3); the tool adds its own options."""
    p = argparse.ArgumentParser(prog=prog, description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path, action="append", default=[],
                   help="another checkout to measure too (uses DIR/.venv/bin/lava-sidecar); repeatable")
    p.add_argument("--rounds", type=int, default=3, help=rounds_help or "interleaved rounds (default 3)")
    return p
