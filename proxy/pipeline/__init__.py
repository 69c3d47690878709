"""The request pipeline: one request through the sidecar, phase by phase, to exactly one record.

``cycle`` (the phases and ``handle``), ``context`` (the per-request state and the pure
``to_record``), ``seams`` (where features join: admission and completion hooks), ``body``
(bounded body reading), ``relay`` (Lava's answer to the client, parsed on the side) and
``runtime`` (what a request needs from the running sidecar).
"""

from .context import RequestContext, to_record
from .cycle import OVERHEAD_HEADER, REQUEST_ID_HEADER, RequestCycle, handle, make_handler
from .relay import RelayState, relay, sse_error_event
from .runtime import Inflight, Readiness, Runtime, Sink
from .seams import AdmissionHook, CompletionHook

__all__ = [
    "OVERHEAD_HEADER",
    "REQUEST_ID_HEADER",
    "AdmissionHook",
    "CompletionHook",
    "Inflight",
    "Readiness",
    "RelayState",
    "RequestContext",
    "RequestCycle",
    "Runtime",
    "Sink",
    "handle",
    "make_handler",
    "relay",
    "sse_error_event",
    "to_record",
]
