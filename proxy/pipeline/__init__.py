"""The request pipeline: one request through the sidecar, phase by phase, to exactly one record."""

from .cycle import RUNTIME, make_handler
from .relay import RelayState, relay, sse_error_event

__all__ = ["RUNTIME", "RelayState", "make_handler", "relay", "sse_error_event"]
