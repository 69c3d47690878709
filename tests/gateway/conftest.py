"""Fixtures for the outbound hop: both client implementations, and a self-signed TLS identity."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from proxy.config import Gateway
from proxy.gateway import UpstreamClient
from proxy.gateway.aiohttp_client import AiohttpClient
from proxy.gateway.lean import LeanClient

CLIENTS = ("aiohttp", "lean")


class MakeClient(Protocol):
    async def __call__(self, *, ssl_context: ssl.SSLContext | None = None,
                       on_retry: Callable[[], None] | None = None, **settings: Any) -> UpstreamClient: ...


@pytest.fixture(params=CLIENTS)
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_client(client_kind: str) -> AsyncIterator[MakeClient]:
    """A started client of the parametrised kind; every one made is closed after the test."""
    made: list[UpstreamClient] = []

    async def make(*, ssl_context: ssl.SSLContext | None = None,
                   on_retry: Callable[[], None] | None = None, **settings: Any) -> UpstreamClient:
        gw = dataclasses.replace(Gateway(url="http://127.0.0.1:1"), client=client_kind, **settings)
        cls = LeanClient if client_kind == "lean" else AiohttpClient
        client: UpstreamClient = cls(gw, on_retry=on_retry, ssl_context=ssl_context)
        await client.start()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@dataclasses.dataclass(frozen=True)
class TlsIdentity:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """What a test injects: the default context, trusting this self-signed certificate too."""
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return ctx


@pytest.fixture(scope="session")
def tls_identity(tmp_path_factory: pytest.TempPathFactory) -> TlsIdentity:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return TlsIdentity(cert, key)
