"""How one operation definition serves both clients: a runner per I/O style (``httpx.Client`` or
``httpx.AsyncClient``) and the ``Op``/``Pages`` descriptors that bind an operation to a namespace's
runner, typed by overloads so the sync side returns ``T`` and the async side an awaitable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, ParamSpec, TypeVar, overload

import httpx

from .core import MAX_RESPONSE_BYTES, Call, Settings, build_request, parse_response, transport_errors
from .errors import LavaProtocolError
from .models_usage import Page

T = TypeVar("T")
P = ParamSpec("P")


class SyncRunner:
    __slots__ = ("http", "settings")

    def __init__(self, s: Settings, http: httpx.Client) -> None:
        self.settings = s
        self.http = http

    def send(self, call: Call[T]) -> T:
        request = build_request(self.settings, call)
        with transport_errors(call):
            response = self.http.send(request, stream=True)
            try:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    _bounded(call, body)
            finally:
                response.close()
        return parse_response(call, response.status_code, bytes(body))


class AsyncRunner:
    __slots__ = ("http", "settings")

    def __init__(self, s: Settings, http: httpx.AsyncClient) -> None:
        self.settings = s
        self.http = http

    async def send(self, call: Call[T]) -> T:
        request = build_request(self.settings, call)
        with transport_errors(call):
            response = await self.http.send(request, stream=True)
            try:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    _bounded(call, body)
            finally:
                await response.aclose()
        return parse_response(call, response.status_code, bytes(body))


def _bounded(call: Call[Any], body: bytearray) -> None:
    if len(body) > MAX_RESPONSE_BYTES:
        raise LavaProtocolError(f"{call.method} {call.path}: answer over {MAX_RESPONSE_BYTES} "
                                "bytes")


R = TypeVar("R", SyncRunner, AsyncRunner)


class Namespace(Generic[R]):
    __slots__ = ("_runner",)

    def __init__(self, runner: R) -> None:
        self._runner: R = runner


class Op(Generic[P, T]):
    """An operation: called on a sync namespace it returns ``T``, on an async one an awaitable."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self._build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: Namespace[SyncRunner], owner: object) -> Callable[P, T]: ...

    @overload
    def __get__(self, obj: Namespace[AsyncRunner], owner: object
                ) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, obj: Namespace[Any], owner: object) -> Callable[P, Any]:
        build, runner = self._build, obj._runner

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            return runner.send(build(*args, **kwargs))

        bound.__doc__ = build.__doc__
        return bound


class Pages(Generic[P, T]):
    """A list operation as an iterator over every item, following ``next_cursor``."""

    def __init__(self, build: Callable[P, Call[Page[T]]]) -> None:
        self._build = build

    @overload
    def __get__(self, obj: Namespace[SyncRunner], owner: object) -> Callable[P, Iterator[T]]: ...

    @overload
    def __get__(self, obj: Namespace[AsyncRunner], owner: object
                ) -> Callable[P, AsyncIterator[T]]: ...

    def __get__(self, obj: Namespace[Any], owner: object) -> Callable[P, Any]:
        build, runner = self._build, obj._runner

        def calls(*args: P.args, **kwargs: P.kwargs) -> Generator[Call[Page[T]], Page[T], None]:
            cursor = kwargs.pop("cursor", None)
            while True:
                page_call = build(*args, **kwargs, cursor=cursor)  # type: ignore[arg-type]
                page: Page[T] = yield page_call
                if not page.has_more or not page.next_cursor:
                    return
                if page.next_cursor == cursor:
                    raise LavaProtocolError(f"{page_call.path}: the cursor did not advance")
                cursor = page.next_cursor

        if isinstance(runner, SyncRunner):
            def items(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
                steps = calls(*args, **kwargs)
                call = next(steps)
                while True:
                    page = runner.send(call)
                    yield from page.data
                    try:
                        call = steps.send(page)
                    except StopIteration:
                        return
            return items

        async def aitems(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
            steps = calls(*args, **kwargs)
            call = next(steps)
            while True:
                page = await runner.send(call)
                for item in page.data:
                    yield item
                try:
                    call = steps.send(page)
                except StopIteration:
                    return
        return aitems
