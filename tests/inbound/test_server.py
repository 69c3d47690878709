"""``InboundServer``: idle connections swept after ``keepalive_seconds`` (busy ones kept), and the
shutdown steps (stop accepting, close idle, let running handlers finish, cancel the rest)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from proxy.inbound import Exchange

from .wire import at_eof, connect, echo_path, get, read_reply, send, serving, until

pytestmark = pytest.mark.timeout(30)


class Gate:
    """A handler that answers ``/wait`` only when released, and everything else at once."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def __call__(self, ex: Exchange) -> None:
        if ex.raw_path != "/wait":
            ex.respond(200, "OK", [], b"now")
            return
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.outcome.set_result("cancelled")
            raise
        ex.respond(200, "OK", [], b"waited")
        self.outcome.set_result("finished")


async def test_sweep_closes_idle_connections_and_keeps_busy_ones() -> None:
    gate = Gate()
    async with serving(gate, keepalive_seconds=0.2) as (_, port), \
            connect(port) as (busy_reader, busy_writer), connect(port) as (idle_reader, idle_writer):
        # The busy connection is the older one: whatever cutoff closed the idle one passed it too.
        await send(busy_writer, get("/wait"))
        await gate.entered.wait()
        await send(idle_writer, get("/"))
        assert (await read_reply(idle_reader)).body == b"now"
        async with asyncio.timeout(10):
            assert await at_eof(idle_reader)
        gate.release.set()
        reply = await read_reply(busy_reader)
        assert (reply.status, reply.body) == (200, b"waited")
        # Idle again now, it goes the same way.
        async with asyncio.timeout(10):
            assert await at_eof(busy_reader)


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: trick"])
async def test_sweep_closes_a_connection_that_never_completes_a_head(sent: bytes) -> None:
    async with serving(echo_path, keepalive_seconds=0.2) as (server, port), \
            connect(port) as (reader, writer):
        await send(writer, sent)
        async with asyncio.timeout(10):
            assert await at_eof(reader)
        await until(lambda: not server.connections)


async def test_stop_listening_refuses_new_connections_and_closes_idle_ones() -> None:
    async with serving(echo_path) as (server, port), connect(port) as (reader, writer):
        await send(writer, get("/"))
        assert (await read_reply(reader)).status == 200
        await server.stop_listening()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(10):
            assert await at_eof(reader)


async def test_shutdown_lets_a_handler_finish_within_grace() -> None:
    gate = Gate()
    async with serving(gate) as (server, port), connect(port) as (reader, writer):
        await send(writer, get("/wait"))
        await gate.entered.wait()
        shutdown = asyncio.create_task(server.shutdown(20.0))
        await until(lambda: server.closing)
        gate.release.set()
        reply = await read_reply(reader)
        await asyncio.wait_for(shutdown, 10)
        assert await gate.outcome == "finished"
        # Begun after stop_listening: the response says the connection ends with it.
        assert (reply.status, reply.body, reply.all("Connection")) == (200, b"waited", ["close"])
        assert await at_eof(reader)


async def test_shutdown_cancels_a_handler_that_outlives_grace() -> None:
    gate = Gate()
    async with serving(gate) as (server, port), connect(port) as (reader, writer):
        await send(writer, get("/wait"))
        await gate.entered.wait()
        await asyncio.wait_for(server.shutdown(0.2), 10)
        assert await gate.outcome == "cancelled"
        assert await at_eof(reader)  # no response: the connection is cut
        assert not server.tasks
        assert not server.connections


async def test_pipelined_request_after_stop_listening_is_not_started() -> None:
    """A response begun after ``stop_listening`` closes the connection; what was pipelined behind
    it is not served (the client retries it on a new connection, as with any close)."""
    gate = Gate()
    async with serving(gate) as (server, port), connect(port) as (reader, writer):
        await send(writer, get("/wait") + get("/second"))
        await gate.entered.wait()
        await server.stop_listening()
        gate.release.set()
        reply = await read_reply(reader)
        assert (reply.body, reply.all("Connection")) == (b"waited", ["close"])
        assert await at_eof(reader)


async def test_access_log_has_a_line_only_for_what_the_server_refuses_itself(
        caplog: pytest.LogCaptureFixture) -> None:
    # The requests the handler serves are the handler's to log (the pipeline's completion hook).
    logger = logging.getLogger("lava_sidecar.access")
    with caplog.at_level(logging.INFO, logger="lava_sidecar.access"):
        async with serving(echo_path, access_log=logger) as (_, port):
            async with connect(port) as (reader, writer):
                await send(writer, get("/v1/models"))
                assert (await read_reply(reader)).status == 200
            async with connect(port) as (reader, writer):
                await send(writer, b"GET /v1/models?key=secret HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n")
                assert (await read_reply(reader)).status == 400
            async with connect(port) as (reader, writer):  # behind a served request: still logged
                await send(writer, get("/anthropic/v1/models") + b"{}\r\n\r\n")
                assert [(await read_reply(reader)).status for _ in range(2)] == [200, 400]
    records = [r for r in caplog.records if r.name == "lava_sidecar.access"]
    # The query string may carry what a log must not: only the path is logged.
    assert [r.getMessage() for r in records] == [
        '"/v1/models" 400 error_code=invalid_http outcome=rejected',
        '"/anthropic/v1/models" 400 error_code=invalid_http outcome=rejected']
    assert [(r.status, r.error_code, r.outcome) for r in records] == [  # type: ignore[attr-defined]
        (400, "invalid_http", "rejected")] * 2
