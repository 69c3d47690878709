"""Both clients, one contract: every way the hop can fail maps to the same bounded reason."""

from __future__ import annotations

import asyncio
import socket

import pytest

from proxy.gateway import UpstreamError

from .conftest import MakeClient, TlsIdentity
from .rawserver import Peer, RawServer, Request, keep_alive, read_all, response

pytestmark = pytest.mark.timeout(30)


async def reason_of_open(client: object, url: str) -> str:
    with pytest.raises(UpstreamError) as err:
        await client.open("POST", url, [], b"{}")  # type: ignore[attr-defined]
    return err.value.reason


async def reason_of_body(client: object, url: str) -> tuple[bytes, str]:
    up = await client.open("POST", url, [], b"{}")  # type: ignore[attr-defined]
    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in up.chunks():
            got.append(chunk)

    try:
        with pytest.raises(UpstreamError) as err:
            await consume()
    finally:
        up.close(reusable=False)
    return b"".join(got), err.value.reason


async def test_reset_before_headers(make_client: MakeClient) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        peer.reset()

    async with RawServer(handler) as srv:
        client = await make_client()
        assert await reason_of_open(client, srv.url + "/") == "reset"


async def test_eof_before_headers(make_client: MakeClient) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200")
        await peer.close()

    async with RawServer(handler) as srv:
        client = await make_client()
        assert await reason_of_open(client, srv.url + "/") in {"reset", "protocol"}


async def test_reset_mid_body(make_client: MakeClient) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"a" * 1000)
        await asyncio.sleep(0.05)
        peer.reset()

    async with RawServer(handler) as srv:
        client = await make_client()
        got, reason = await reason_of_body(client, srv.url + "/")
        assert (got, reason) == (b"a" * 1000, "reset")


async def test_chunked_body_cut_short(make_client: MakeClient) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await peer.close()

    async with RawServer(handler) as srv:
        client = await make_client()
        assert await reason_of_body(client, srv.url + "/") == (b"hello", "reset")


async def test_stall_before_headers(make_client: MakeClient) -> None:
    async def handle(peer: Peer, req: Request) -> bool:
        await asyncio.sleep(3600)
        return False

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client(first_byte_timeout=0.3, idle_timeout=5.0)
        assert await reason_of_open(client, srv.url + "/") == "timeout_first_byte"


async def test_stall_mid_body(make_client: MakeClient) -> None:
    async def handle(peer: Peer, req: Request) -> bool:
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await asyncio.sleep(3600)
        return False

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client(first_byte_timeout=5.0, idle_timeout=0.3)
        assert await reason_of_body(client, srv.url + "/") == (b"abc", "timeout_idle")


async def test_a_stream_that_keeps_sending_is_never_cut(make_client: MakeClient) -> None:
    """Gaps shorter than idle_timeout, a total far longer than idle and first-byte together."""

    async def handle(peer: Peer, req: Request) -> bool:
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(12):
            await asyncio.sleep(0.1)
            await peer.send(b"1\r\n.\r\n")
        await peer.send(b"0\r\n\r\n")
        return True

    async with RawServer(keep_alive(handle)) as srv:
        client = await make_client(first_byte_timeout=0.4, idle_timeout=0.4)
        up = await client.open("POST", srv.url + "/", [], b"{}")
        assert await read_all(up.chunks()) == b"." * 12
        up.close(reusable=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_is_retried_then_reported(make_client: MakeClient) -> None:
    retries: list[int] = []
    client = await make_client(connect_retries=2, on_retry=lambda: retries.append(1))
    assert await reason_of_open(client, f"http://127.0.0.1:{free_port()}/") == "connect"
    assert len(retries) == 2


async def test_a_streamed_body_is_not_retried(make_client: MakeClient) -> None:
    retries: list[int] = []
    client = await make_client(connect_retries=2, on_retry=lambda: retries.append(1))

    async def body():  # type: ignore[no-untyped-def]
        yield b"x"

    with pytest.raises(UpstreamError) as err:
        await client.open("POST", f"http://127.0.0.1:{free_port()}/", [], body())
    assert (err.value.reason, retries) == ("connect", [])


async def test_unresolvable_name(make_client: MakeClient) -> None:
    client = await make_client(connect_retries=0)
    assert await reason_of_open(client, "http://lava-gateway.invalid/") == "dns"


async def test_tls_self_signed(make_client: MakeClient, tls_identity: TlsIdentity) -> None:
    async def handle(peer: Peer, req: Request) -> bool:
        await peer.send(response("200 OK", b"secure"))
        return True

    async with RawServer(keep_alive(handle), tls=tls_identity.server_context()) as srv:
        retries: list[int] = []
        untrusting = await make_client(on_retry=lambda: retries.append(1))
        assert await reason_of_open(untrusting, srv.url + "/") == "tls"
        assert retries == []  # the same certificate would be presented again
        trusting = await make_client(ssl_context=tls_identity.client_context())
        for _ in range(2):
            up = await trusting.open("POST", srv.url + "/", [], b"{}")
            assert await read_all(up.chunks()) == b"secure"
            up.close(reusable=True)
        # by name too: SNI and the certificate check use the host
        up = await trusting.open("POST", srv.url.replace("127.0.0.1", "localhost") + "/", [], b"{}")
        assert await read_all(up.chunks()) == b"secure"
        up.close(reusable=True)
    assert srv.connections == 2  # 127.0.0.1 reused once, then localhost (failed handshakes uncounted)


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 20_000 + b"\r\n",
    b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/9.9 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
], ids=["huge-header", "many-headers", "bad-status", "bad-version", "not-http", "two-lengths",
        "bad-chunk"])
async def test_hostile_responses(make_client: MakeClient, head: bytes) -> None:
    async def handler(peer: Peer) -> None:
        await peer.read_request()
        for i in range(0, len(head), 65536):  # the client may hang up part way: RawServer allows it
            await peer.send(head[i:i + 65536])
        await asyncio.sleep(3600)

    async def exchange(client: object) -> None:
        up = await client.open("POST", srv.url + "/", [], b"{}")  # type: ignore[attr-defined]
        try:
            await read_all(up.chunks())
        finally:
            up.close(reusable=False)

    async with RawServer(handler) as srv:
        client = await make_client(first_byte_timeout=10.0)
        with pytest.raises(UpstreamError) as err:
            await exchange(client)
        assert err.value.reason == "protocol"
