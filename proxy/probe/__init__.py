"""Connectivity probes: a HEAD or GET of a provider's base path is answered here, 200 and no body.

Claude Code sends ``HEAD`` to its ``ANTHROPIC_BASE_URL`` (``http://sidecar/anthropic``) before it
starts, and other tools check the base URL they were given the same way (``/v1``, ``/openai/v1``,
``/<provider>/v1``, ``/anthropic``; ``Router.is_base_path``). No provider serves anything at an API
root, so nothing is lost by answering locally: nothing is sent to Lava, nothing is billed, and no
usage record, metric or access line is written (a probe is not traffic, as ``/healthz`` is not).
Any other method, and every path below a base, goes through the pipeline as before.
"""

from __future__ import annotations

from typing import Final

from ..inbound import Exchange
from ..routing import Router

PROBE_METHODS: Final = frozenset({"GET", "HEAD"})


def answered_probe(ex: Exchange, router: Router) -> bool:
    """Answer ``ex`` here if it is a base-path probe; whether it was. Called first thing by the
    pipeline's handler, synchronously: a wrapper coroutine in front of it cost every request an
    extra frame to create and resume."""
    if ex.method in PROBE_METHODS and router.is_base_path(ex.raw_path):
        ex.respond(200, "OK", [("Content-Type", "text/plain; charset=utf-8")], b"")
        return True
    return False


__all__ = ["PROBE_METHODS", "answered_probe"]
