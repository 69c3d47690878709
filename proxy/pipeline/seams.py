"""The named seams where features join the request path without reaching into it.

- **Admission** (``AdmissionHook.admit``): after route and identity and once the body is read
  and inspected (``RequestContext.facts``, ``request_body``), before anything is sent to Lava.
  Raising a ``SidecarError`` refuses the request in the caller's API shape; nothing has left, so
  nothing is billed. Quotas reserve and refuse here; a tracer starts its span and adds
  ``traceparent`` to ``RequestContext.upstream_headers``.
- **Completion** (``CompletionHook.complete``): after the request's one ``RequestRecord`` went to
  the recorder, fed that same record, so a counter, a span and the usage log agree on the numbers.
  Runs for every request that was admitted *or refused*, exactly once.
- **The context** (``RequestContext``, in ``context.py``): what a hook may read about the request,
  and where it keeps its own per-request state (``attach``/``attached``).

Hooks run in the order configured; a completion hook that raises is logged and counted, never
turned into an error for a request that was already served.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..record import RequestRecord
    from .context import RequestContext


class AdmissionHook(Protocol):
    async def admit(self, ctx: RequestContext) -> None:
        """Let the request through, or raise a ``SidecarError`` to refuse it."""
        ...


class CompletionHook(Protocol):
    def complete(self, ctx: RequestContext, rec: RequestRecord) -> None:
        """Account for one finished request: synchronous, O(1), never blocks."""
        ...
