"""The recorded provider traffic under tests/data/recorded (go-vcr YAML), and ways to split it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent / "data" / "recorded"


@dataclass(frozen=True)
class Recording:
    name: str            # path under ROOT, without .yaml (plus "#<id>" past a file's first exchange)
    url: str
    request_body: bytes
    status: int
    content_type: str
    body: bytes
    method: str = "POST"

    @property
    def is_sse(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    def __str__(self) -> str:
        return self.name


def _file(path: Path) -> list[Recording]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    name = str(path.relative_to(ROOT).with_suffix(""))
    out = []
    for i, interaction in enumerate(doc["interactions"]):
        request, response = interaction["request"], interaction["response"]
        ctype = response["headers"].get("Content-Type", [""])[0]
        out.append(Recording(
            name=name if i == 0 else f"{name}#{interaction.get('id', i)}",
            url=request["url"],
            request_body=(request.get("body") or "").encode(),
            status=int(response["code"]),
            content_type=ctype,
            body=response["body"].encode(),
            method=str(request["method"]).upper(),
        ))
    return out


@cache
def recordings() -> tuple[Recording, ...]:
    return tuple(r for p in sorted(ROOT.rglob("*.yaml")) for r in _file(p))


def gemini_recordings(status: int | None = None) -> list[Recording]:
    """The native Gemini exchanges (genai/gemini), every one or those answered with ``status``."""
    return [r for r in recordings() if r.name.startswith("genai/gemini/")
            and (status is None or r.status == status)]


def where(predicate: object = None, *, url_suffix: str = "", sse: bool | None = None,
          status: int | None = 200) -> list[Recording]:
    out = []
    for r in recordings():
        if url_suffix and not r.url.endswith(url_suffix):
            continue
        if sse is not None and r.is_sse != sse:
            continue
        if status is not None and r.status != status:
            continue
        out.append(r)
    return out


def random_splits(data: bytes, rng: random.Random, max_piece: int = 64) -> list[bytes]:
    pieces, i = [], 0
    while i < len(data):
        n = rng.randint(1, max_piece)
        pieces.append(data[i:i + n])
        i += n
    return pieces


def _per_event(data: bytes) -> list[bytes]:
    """``data`` cut after each blank line (LF or CRLF), the rest as the last piece."""
    pieces, start = [], 0
    for i in range(len(data)):
        if data.startswith(b"\n\n", i) or data.startswith(b"\r\n\r\n", i):
            end = i + (2 if data[i] == 0x0A else 4)
            if end > start:
                pieces.append(data[start:end])
                start = end
    if start < len(data):
        pieces.append(data[start:])
    return pieces


def splits(data: bytes, seed: int) -> Iterator[tuple[str, list[bytes]]]:
    """Whole, byte by byte, one event per read (as providers write; the readers' fast path), and
    three seeded random splits (small and large pieces)."""
    yield "whole", [data]
    yield "bytewise", [data[i:i + 1] for i in range(len(data))]
    yield "per-event", _per_event(data)
    rng = random.Random(seed)
    for max_piece in (7, 100, 4096):
        yield f"random{max_piece}", random_splits(data, rng, max_piece)
