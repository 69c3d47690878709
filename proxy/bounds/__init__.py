"""Time and memory bounds against slow and hostile clients.

What one client may cost the sidecar however it behaves: a request head must arrive within
``limits.header_timeout_seconds``; a body may not stall longer than
``limits.body_idle_timeout_seconds`` between bytes (both enforced by the inbound server, one timer
handle per connection, answered 408 in the caller's shape); the request bodies held in memory across
all requests are capped at ``limits.max_buffered_body_bytes`` (``BodyBudget``: a body that does not
fit waits briefly for room, then gets a 503). A stalled SSE reader is bounded by back-pressure in
the relay and the outbound clients, not here.
"""

from .budget import BodyBudget
from .buffer import BodyBuffer
from .config import ClientBounds, read_client_bounds
from .metrics import BoundsMetrics

__all__ = ["BodyBudget", "BodyBuffer", "BoundsMetrics", "ClientBounds", "read_client_bounds"]
