"""The ``mcp:`` section: what ``lava-sidecar mcp`` may do beyond proxying the bound customer.

Every problem is reported with its dotted key, like the rest of the loader. The defaults are the
safe ones: no billing-admin tools, no customer chosen by a tool argument, browser origins refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    # A type only: ``proxy.config`` imports this module for ``Settings.mcp`` (no runtime cycle).
    from ..config.fields import Reader

#: The biggest tool argument accepted by default (a prompt's messages, a call's body), in bytes.
DEFAULT_MAX_ARGUMENT_BYTES: Final = 1024 * 1024
_MAX_ARGUMENT_CEILING: Final = 32 * 1024 * 1024
_MAX_ORIGINS: Final = 32


@dataclass(frozen=True, slots=True)
class McpSettings:
    #: create_meter, create_plan, create_checkout_session, list_customers, customer_subscription.
    allow_billing_admin: bool = False
    #: A tool's ``customer`` argument may bill someone other than the bound customer.
    allow_customer_argument: bool = False
    #: Browser ``Origin`` values the streamable HTTP endpoint answers (loopback ones always).
    allowed_origins: tuple[str, ...] = ()
    #: A larger argument (JSON-encoded) is a tool error, never sent on.
    max_argument_bytes: int = DEFAULT_MAX_ARGUMENT_BYTES
    #: Longest wait for one tool's request through the sidecar or to Lava, in seconds.
    timeout: float = 300.0


def _origin_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an origin like https://app.example.com, got {value[:80]!r}"
    if parts.path or parts.query or parts.fragment or parts.username:
        return "an origin is scheme://host[:port] only (no path, query or credentials)"
    return None


def _size_problem(v: int) -> str | None:
    if v < 1024:
        return "must be at least 1024"
    return None if v <= _MAX_ARGUMENT_CEILING else f"must be at most {_MAX_ARGUMENT_CEILING}"


def read_mcp(r: Reader) -> McpSettings:
    """``r`` is the ``mcp`` section; problems go to its list. Returns defaults where a value is bad."""
    d = McpSettings()
    origins: list[str] = []
    raw = r.raw("allowed_origins")
    if raw is not None and not isinstance(raw, list):
        r.problem("allowed_origins", "must be a list of origins like https://app.example.com")
    elif raw:
        if len(raw) > _MAX_ORIGINS:
            r.problem("allowed_origins", f"at most {_MAX_ORIGINS} origins")
        for i, item in enumerate(raw[:_MAX_ORIGINS]):
            msg = _origin_problem(item) if isinstance(item, str) else "must be a string"
            if msg is not None:
                r.problem(f"allowed_origins[{i}]", msg)
            else:
                origins.append(item.rstrip("/"))
    timeout = r.get("timeout_seconds", float, d.timeout,
                    lambda v: None if 0 < v <= 3600 else "must be between 0 and 3600")
    settings = McpSettings(
        allow_billing_admin=r.get("allow_billing_admin", bool, d.allow_billing_admin),
        allow_customer_argument=r.get("allow_customer_argument", bool, d.allow_customer_argument),
        allowed_origins=tuple(origins),
        max_argument_bytes=r.get("max_argument_bytes", int, d.max_argument_bytes, _size_problem),
        timeout=timeout,
    )
    r.finish()
    return settings


__all__ = ["DEFAULT_MAX_ARGUMENT_BYTES", "McpSettings", "read_mcp"]
