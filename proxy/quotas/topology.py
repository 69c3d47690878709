"""Where a customer's batch goes: the one Redis, or the cluster master that owns its hash slot.

``quotas.redis.cluster: true`` follows redis-py's convention (a cluster is a choice of client, the
URL stays ``redis://`` or ``rediss://`` and names any one node): the slot map is read from that
node with ``CLUSTER SLOTS`` and read again when a node answers ``MOVED``. All of one customer's
keys carry the ``{customer}`` hash tag, so one slot holds everything one admission touches.
Connection settings (password, TLS, timeouts) come from the URL and apply to every node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.crc import key_slot
from redis.exceptions import ResponseError

from ..secret import Secret
from .batch import pack
from .link import LinkError, exchange

SLOTS: Final = 16384
#: Slot lookups remembered (one per customer key); past it the memo starts over.
_MEMO_MAX: Final = 10_000


@dataclass(frozen=True, slots=True)
class Shard:
    start: int
    end: int  # inclusive
    host: str
    port: int


def parse_slots(reply: object, default_host: str) -> list[Shard]:
    """``CLUSTER SLOTS``' reply: ``[[start, end, [host, port, id, ...], replicas...], ...]``.
    An empty host means the node that answered (``default_host``). ValueError if malformed."""
    if not isinstance(reply, list):
        raise ValueError("CLUSTER SLOTS: not a list")
    out = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) < 3 or not isinstance(entry[2], list):
            raise ValueError("CLUSTER SLOTS: malformed entry")
        host = _text(entry[2][0]) or default_host
        out.append(Shard(int(entry[0]), int(entry[1]), host, int(entry[2][1])))
    return out


async def read_shards(connector: Connector, timeout_s: float, connect_s: float) -> list[Shard]:
    """The slot map, read with ``CLUSTER SLOTS`` from the URL's node on a connection of its own
    (bounded; closed after). Any failure is a ``LinkError``."""
    seed = connector.to()()
    try:
        async with asyncio.timeout(max(1.0, 4 * timeout_s)):
            [reply] = await exchange(seed, pack("CLUSTER", "SLOTS"), 1, timeout_s, connect_s)
            if isinstance(reply, ResponseError):
                raise LinkError(reply, sent=True)
            return parse_slots(reply, connector.host)
    except LinkError:
        raise
    except Exception as exc:  # a malformed map (ValueError), the bound, anything redis-py raises
        raise LinkError(exc, sent=True) from exc
    finally:
        await seed.disconnect()


def _text(v: object) -> str:
    if isinstance(v, bytes):
        return v.decode()
    return str(v) if v is not None else ""


class Connector:
    """Makes redis-py connections to the URL's node, or to any cluster node with the URL's settings."""

    __slots__ = ("_class", "_kwargs", "host", "port")

    def __init__(self, url: Secret, *, connect_timeout_s: float) -> None:
        # Built from the URL once; the pool object itself is never used to hold connections.
        # No socket timeout: every exchange has its own deadline (link.Deadline), and redis-py
        # would wrap each write in a task of its own for one. Connecting is bounded by the caller.
        pool = ConnectionPool.from_url(url.reveal(), socket_timeout=None,
                                       socket_connect_timeout=connect_timeout_s)
        self._class: Callable[..., AbstractConnection] = pool.connection_class
        self._kwargs: dict[str, Any] = dict(pool.connection_kwargs)
        # No retries inside redis-py: failures go to the circuit (docs/quotas.md).
        self._kwargs.pop("retry", None)
        self.host = str(self._kwargs.get("host", ""))
        self.port = int(self._kwargs.get("port", 0) or 0)

    def to(self, host: str | None = None, port: int | None = None) -> Callable[[], AbstractConnection]:
        kwargs = dict(self._kwargs)
        if host is not None:
            kwargs["host"], kwargs["port"] = host, port
        return lambda: self._class(**kwargs)


class SlotMemo:
    """Customer key → hash slot, remembered (crc16 of the hash tag)."""

    __slots__ = ("_memo",)

    def __init__(self) -> None:
        self._memo: dict[str, int] = {}

    def slot(self, key: str) -> int:
        s = self._memo.get(key)
        if s is None:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            s = self._memo[key] = key_slot(key.encode())
        return s
