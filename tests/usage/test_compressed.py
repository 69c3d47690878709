"""Decompression for the extractor's copy: bounded, tolerant of damage, never raising."""

from __future__ import annotations

import gzip
import json
import zlib

from proxy.usage.base import Usage
from proxy.usage.compressed import DecompressingExtractor, coding_of
from proxy.usage.jsonbody import JsonExtractor
from proxy.usage.openai import OPENAI_KEYS, read_openai

from .streamkit import run

DOC = json.dumps({"id": "x", "model": "m", "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
WANT = Usage(input_tokens=3, output_tokens=4, model="m", response_id="x", source="provider")


class Collect:
    """An extractor that only counts what reaches it."""

    def __init__(self) -> None:
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)

    def finish(self) -> Usage:
        return Usage()


def json_behind(coding: str, max_decoded: int = 1 << 20) -> DecompressingExtractor:
    return DecompressingExtractor(JsonExtractor(read_openai, OPENAI_KEYS), coding,
                                  max_decoded=max_decoded)


def test_codings() -> None:
    assert coding_of(None) == ""
    assert coding_of(" Identity ") == ""
    assert coding_of("GZIP") == "gzip"
    assert coding_of("deflate") == "deflate"
    assert coding_of("br") is None
    assert coding_of("gzip, br") is None


def test_gzip_multi_member() -> None:
    half = len(DOC) // 2
    body = gzip.compress(DOC[:half].encode()) + gzip.compress(DOC[half:].encode())
    assert run(lambda: json_behind("gzip"), body) == WANT


def test_zip_bomb_is_cut_at_the_bound() -> None:
    bomb = gzip.compress(b"0" * (50 << 20))
    inner = Collect()
    ex = DecompressingExtractor(inner, "gzip", max_decoded=1 << 20)
    for i in range(0, len(bomb), 4096):
        ex.feed(bomb[i:i + 4096])
    ex.finish()
    assert inner.size == 1 << 20


def test_corrupt_and_truncated_bodies_do_not_raise() -> None:
    assert run(lambda: json_behind("gzip"), b"not gzip at all") == Usage()
    cut = gzip.compress(DOC.encode())[:-12]   # the trailer and some data are missing
    assert run(lambda: json_behind("gzip"), cut).source == "missing"
    assert run(lambda: json_behind("deflate"), b"\x00" * 40) == Usage()


def test_raw_deflate_is_retried() -> None:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert run(lambda: json_behind("deflate"), c.compress(DOC.encode()) + c.flush()) == WANT
