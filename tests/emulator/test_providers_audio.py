"""The multipart reader behind the mock transcription endpoints, against bodies aiohttp writes."""

from __future__ import annotations

import asyncio

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.emulator.providers.openai_audio import form_fields


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.data += chunk


def encode(fields: dict[str, str], file: bytes, filename: str) -> tuple[str, bytes]:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", file, filename=filename, content_type="audio/wav")
    writer = form()
    sink = _Sink()
    asyncio.run(writer.write(sink))  # type: ignore[arg-type]
    return writer.content_type, bytes(sink.data)


@settings(max_examples=60)
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(lambda n: n != "file"),
                       st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                       max_size=5),
       st.binary(max_size=4096), st.from_regex(r"[a-z0-9]{1,10}\.wav", fullmatch=True))
def test_round_trip(fields: dict[str, str], file: bytes, filename: str) -> None:
    content_type, body = encode(fields, file, filename)
    got = form_fields(content_type, body)
    assert got["file"] == (file, filename)
    assert {k: v[0].decode() for k, v in got.items() if k != "file"} == fields


def test_not_multipart() -> None:
    assert form_fields("application/json", b"{}") == {}
    assert form_fields(None, b"") == {}
    assert form_fields("multipart/form-data", b"--x\r\n") == {}  # no boundary parameter
