"""``lava-sidecar reconcile``: audit what Lava billed against what the sidecar recorded.

``core`` (pure: the join on Lava's request id, sums per customer and meter, every disagreeing
request), ``render`` (the report as text or one JSON document), ``sources`` (the shell: the usage
log and its rotations read back, Lava's request records fetched through ``proxy.billing``) and
``command`` (the CLI). Nothing here runs on the request path.
"""

from .core import Billed, Finding, Group, Kind, Report, Served, Side, Window, reconcile

__all__ = ["Billed", "Finding", "Group", "Kind", "Report", "Served", "Side", "Window", "reconcile"]
