"""The proxy listener's HTTP/1.1 server: httptools parsing, one task per request, no framework.

aiohttp's server (still used for the admin listener and the local gateway) cost ~60 µs of CPU per
proxied request here against ~10 µs for this one (bench/, h2load, interleaved); on the proxy path
that was a fifth of the sidecar's whole per-request cost.
"""

from http import HTTPStatus

from .exchange import ClientGone, Exchange
from .server import InboundServer


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


__all__ = ["ClientGone", "Exchange", "InboundServer", "reason_phrase"]
