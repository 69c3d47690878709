"""The local Lava's management REST API (``/v1/meters``, ``/v1/plans``, ``/v1/customers``, …
lava-api.md 1.3) over the ``accounts``: ``app`` is the shared shell (bearer auth, bounded JSON
body, one accounts operation, JSON or ``{"error": …}`` answer) and the routes' wiring; ``context``
is what a handler receives; ``input`` reads bodies and queries into typed values; the resources
live in ``catalog``, ``customers``, ``reports``, ``admin`` and ``models``, each exporting
``ROUTES``.

The rest of the code imports from this package: ``mount`` (for ``create_gateway_app``),
``create_app`` (a management-only app) and, for resource handlers, ``Ctx``/``Handler``/``Route``.
"""

from .app import add_routes, create_app, mount
from .context import Ctx, Handler, Route

__all__ = ["Ctx", "Handler", "Route", "add_routes", "create_app", "mount"]
