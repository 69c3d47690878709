"""What a management API handler receives (``Ctx``) and how resource modules list their routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..accounts import LocalAccounts, Scope
from ..store import Json


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a resource handler gets: the caller's merchant scope and the parsed request."""

    accounts: LocalAccounts
    scope: Scope
    key_hash: str
    query: Mapping[str, str]
    body: dict[str, Json]
    params: Mapping[str, str]
    base_url: str

    def param(self, name: str) -> str:
        return self.params[name]


Handler = Callable[[Ctx], object]
#: (method, path under /v1, handler): what each resource module exports as ``ROUTES``.
Route = tuple[str, str, Handler]
