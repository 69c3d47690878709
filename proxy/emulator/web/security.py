"""The pages' response headers and who may see them: one nonce per response for its inline
``<style>``/``<script>`` (the Content-Security-Policy allows nothing else), the framing rule of each
page group, and the loopback rule of the dashboard. Pure except ``html_response``."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from .markup import Markup


@dataclass(frozen=True, slots=True)
class Policy:
    """One response's CSP: its nonce, and who may frame it (``None``: anyone; ``()``: no one)."""

    nonce: str
    frame_ancestors: tuple[str, ...] | None
    form_action_self: bool = False

    def header(self) -> str:
        parts = ["default-src 'none'", f"script-src 'nonce-{self.nonce}'",
                 f"style-src 'nonce-{self.nonce}'", "img-src data:", "base-uri 'none'",
                 "form-action 'self'" if self.form_action_self else "form-action 'none'"]
        if self.frame_ancestors is not None:
            parts.append("frame-ancestors " + (" ".join(self.frame_ancestors) or "'none'"))
        return "; ".join(parts)


def policy(*, frame_ancestors: tuple[str, ...] | None, forms: bool = False) -> Policy:
    return Policy(secrets.token_urlsafe(18), frame_ancestors, forms)


_HOST = re.compile(r"[a-z0-9.-]{1,253}\Z|[0-9a-f:.]{2,45}\Z")


def origin_of(url: str) -> str | None:
    """The web origin ``scheme://host[:port]`` of an http(s) URL, as a browser serializes it
    (lowercase host, no user info, no default port), or ``None`` if it has none."""
    parts = urlsplit(url.strip())
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or not _HOST.match(host):
        return None  # a host that could not be one would be unsafe in a header
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def html_response(body: Markup, status: int, pol: Policy) -> web.Response:
    """A page: HTML, never cached (forms carry a token, the dashboard customers' details), never
    sniffed, the Referer kept to this origin (so a same-origin form POST carries its Origin)."""
    headers = {
        "Content-Security-Policy": pol.header(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    if pol.frame_ancestors == ():
        headers["X-Frame-Options"] = "DENY"  # browsers that predate frame-ancestors
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers=headers)


_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def _loopback_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The host part of a Host header (``[::1]:8788`` → ``::1``, ``localhost:80`` → ``localhost``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def local_only(remote: str | None, host_header: str) -> bool:
    """The dashboard's rule: the peer is on this machine and the Host names this machine (a page
    elsewhere that rebinds its DNS name to 127.0.0.1 still sends its own name as Host)."""
    if remote is None or not _loopback_ip(remote):
        return False
    name = host_name(host_header)
    return name in _LOOPBACK_NAMES or _loopback_ip(name)
