"""Fault injection: the ``x-emulator-fault`` header → ``Fault``, and a reply + fault → ``Script``,
the exact sequence of pauses, writes and resets the writer performs. Pure: no sockets here.

Faults: ``reset-before-headers``, ``reset-mid-stream``, ``stall-before-headers=<s>``,
``stall-mid-stream=<s>``, ``status=<code>[,empty]``, ``truncated-json``, ``malformed-sse``,
``endless-line``, ``huge=<bytes>``, ``never-ends``, ``slow-drip=<ms>[,<bytes>]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..errors import RequestRejected
from .reply import Part, Reply

HEADER: Final = "x-emulator-fault"
MAX_STALL_SECONDS: Final = 3600.0
MAX_HUGE_BYTES: Final = 1 << 30
KINDS: Final = frozenset({
    "reset-before-headers", "reset-mid-stream", "stall-before-headers", "stall-mid-stream",
    "status", "truncated-json", "malformed-sse", "endless-line", "huge", "never-ends", "slow-drip",
})
SSE_TYPE: Final = "text/event-stream; charset=utf-8"
#: Lines no SSE reader should choke on: broken JSON, invalid UTF-8, fields without values.
MALFORMED: Final = (
    b'data: {"choices": [{"delta": {"content": "unterminated\n\n',
    b"data: \xc3\x28\xff not utf-8\n\n",
    b"data\n\nid\nretry: soon\n\n",
    b"event: \n:\xfe comment with a bad byte\n\n",
)
_PAD_LINE: Final = b":" + b"x" * 1022 + b"\n"


class FaultInvalid(RequestRejected):
    code = "emulator_fault_invalid"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    seconds: float = 0.0
    status: int = 0
    empty: bool = False
    size: int = 0
    drip_bytes: int = 7


def parse_fault(value: str | None) -> Fault | None:
    if value is None or not value.strip():
        return None
    kind, _, arg = value.strip().partition("=")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise FaultInvalid(f"Unknown {HEADER} {kind[:40]!r}; known: {', '.join(sorted(KINDS))}.")
    try:
        if kind in ("stall-before-headers", "stall-mid-stream"):
            seconds = float(arg)
            if not 0 <= seconds <= MAX_STALL_SECONDS:
                raise ValueError(arg)
            return Fault(kind, seconds=seconds)
        if kind == "status":
            code, _, flag = arg.partition(",")
            status = int(code)
            if not 400 <= status <= 599 or flag.strip() not in ("", "empty"):
                raise ValueError(arg)
            return Fault(kind, status=status, empty=flag.strip() == "empty")
        if kind == "huge":
            size = int(arg)
            if not 0 < size <= MAX_HUGE_BYTES:
                raise ValueError(arg)
            return Fault(kind, size=size)
        if kind == "slow-drip":
            ms, _, piece = arg.partition(",")
            seconds, drip = float(ms) / 1000, int(piece) if piece else 7
            if not 0 <= seconds <= 60 or not 1 <= drip <= 65536:
                raise ValueError(arg)
            return Fault(kind, seconds=seconds, drip_bytes=drip)
    except ValueError as exc:
        raise FaultInvalid(f"Bad argument for {HEADER} {kind!r}: {arg[:40]!r}.") from exc
    if arg:
        raise FaultInvalid(f"{HEADER} {kind!r} takes no argument.")
    return Fault(kind)


@dataclass(frozen=True, slots=True)
class Send:
    part: Part


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


@dataclass(frozen=True, slots=True)
class Abort:
    """Drop the connection without a proper end: the client sees a reset or an incomplete body."""


@dataclass(frozen=True, slots=True)
class Forever:
    """Write ``data`` every ``interval`` seconds until the client leaves (or the writer's limit)."""

    data: bytes
    interval: float


Step = Send | Pause | Abort | Forever


@dataclass(frozen=True, slots=True)
class Script:
    before: tuple[Step, ...]           # before the status line: pauses, or an abort
    status: int
    headers: tuple[tuple[str, str], ...]
    body: tuple[Step, ...]
    content_length: int | None         # None: chunked
    #: Completing the body serves the whole reply (settle with all of its usage).
    whole: bool


def plan(reply: Reply, fault: Fault | None, *, delay: float = 0.0,
         keepalive: float = 0.05) -> Script:
    """The script for one reply: paced when it is a stream, shaped by ``fault`` when there is one.
    A ``status`` fault is applied by the caller, which substitutes a provider error reply."""
    parts = list(reply.parts)
    length = None if reply.stream else reply.size
    kind = fault.kind if fault else None
    if fault is None or kind == "status":
        return _script(reply, (), _paced(parts, reply.stream, delay), length, whole=True)
    if kind == "reset-before-headers":
        return _script(reply, (Abort(),), [], length, whole=False)
    if kind == "stall-before-headers":
        return _script(reply, (Pause(fault.seconds),), _paced(parts, reply.stream, delay),
                       length, whole=True)
    head, tail = _halves(parts)
    if kind == "reset-mid-stream":
        return _script(reply, (), [*_paced(head, reply.stream, delay), Abort()], length,
                       whole=False)
    if kind == "stall-mid-stream":
        steps = [*_paced(head, reply.stream, delay), Pause(fault.seconds),
                 *_paced(tail, reply.stream, delay)]
        return _script(reply, (), steps, length, whole=True)
    if kind == "truncated-json":
        return _truncated(reply, parts, delay)
    if kind == "malformed-sse":
        garbage = [Part(line) for line in MALFORMED] if reply.stream else []
        return _script(reply, (), _paced(parts[:1] + garbage + parts[1:], reply.stream, delay),
                       length, whole=True)
    if kind == "huge":
        return _huge(reply, parts, fault.size, delay)
    if kind == "slow-drip":
        drips = [s for part in parts for s in _dripped(part, fault.drip_bytes, fault.seconds)]
        return _script(reply, (), drips, length, whole=True)
    first = [Send(parts[0])] if reply.stream and parts else []
    if kind == "endless-line":
        steps = [*first, Send(Part(b"data: ")), Forever(b"x" * 4096, 0.0)]
    else:  # never-ends
        steps = [*first, Forever(b": keep-alive\n\n", keepalive)]
    headers = tuple((n, v) for n, v in reply.headers if n.lower() != "content-type")
    return Script((), reply.status, (*headers, ("Content-Type", SSE_TYPE)), tuple(steps), None,
                  whole=False)


def _script(reply: Reply, before: tuple[Step, ...], body: list[Step], length: int | None, *,
            whole: bool) -> Script:
    return Script(before, reply.status, reply.headers, tuple(body), length, whole)


def _paced(parts: list[Part], stream: bool, delay: float) -> list[Step]:
    steps: list[Step] = []
    for i, part in enumerate(parts):
        if i and stream and delay > 0:
            steps.append(Pause(delay))
        steps.append(Send(part))
    return steps


def _halves(parts: list[Part]) -> tuple[list[Part], list[Part]]:
    """Cut between parts when there are several (a stream), inside the bytes when there is one."""
    if len(parts) >= 2:
        mid = len(parts) // 2
        return parts[:mid], parts[mid:]
    if not parts:
        return [], []
    only = parts[0]
    data = only.data * only.repeat
    cut = max(1, len(data) // 2)
    return [Part(data[:cut])], [Part(data[cut:], only.output_tokens, only.reports)]


def _truncated(reply: Reply, parts: list[Part], delay: float) -> Script:
    if not reply.stream:
        head, _ = _halves(parts)
        return _script(reply, (), [Send(p) for p in head], sum(p.size for p in head),
                       whole=False)
    # In a stream, the event that states the usage loses the second half of its JSON.
    idx = max((i for i, p in enumerate(parts) if p.reports is not None), default=len(parts) // 2)
    if not parts:
        return _script(reply, (), [], None, whole=False)
    victim = parts[idx]
    cut = victim.data[: max(1, len(victim.data.rstrip(b"\r\n")) // 2)] + b"\n\n"
    parts[idx] = Part(cut, victim.output_tokens)
    return _script(reply, (), _paced(parts, True, delay), None, whole=False)


def _huge(reply: Reply, parts: list[Part], size: int, delay: float) -> Script:
    missing = size - reply.size
    if missing <= 0 or not parts:
        return _script(reply, (), _paced(parts, reply.stream, delay), reply.size or None,
                       whole=True)
    if reply.stream:
        full, rest = divmod(missing, len(_PAD_LINE))
        pad = [Part(_PAD_LINE, repeat=full)] if full else []
        if rest:  # a comment line, or for one byte a blank line (no data: no event)
            pad.append(Part(b":" + b"x" * (rest - 2) + b"\n" if rest > 1 else b"\n"))
        # Before the last event (the usage, or [DONE]): a reader must keep going to reach it.
        body = _paced(parts[:-1] + pad + parts[-1:], True, delay)
        return _script(reply, (), body, None, whole=True)
    data = b"".join(p.data * p.repeat for p in parts)
    brace = data.find(b"{")
    if brace < 0:
        return _script(reply, (), [Send(p) for p in parts], reply.size, whole=True)
    key = b'"x_emulator_padding":"'
    last = parts[-1]
    after = data[brace + 1:]
    close = b'"' if after.lstrip().startswith(b"}") else b'",'
    fill = max(0, missing - len(key) - len(close))
    full, rest = divmod(fill, 4096)
    pieces = [Part(data[: brace + 1] + key), Part(b"x" * 4096, repeat=full),
              Part(b"x" * rest + close + after, last.output_tokens, last.reports)]
    return _script(reply, (), [Send(p) for p in pieces if p.size], sum(p.size for p in pieces),
                   whole=True)


def _dripped(part: Part, piece: int, seconds: float) -> list[Step]:
    data = part.data * part.repeat
    steps: list[Step] = []
    for start in range(0, len(data), piece):
        chunk = data[start:start + piece]
        last = start + piece >= len(data)
        steps.append(Send(Part(chunk, part.output_tokens, part.reports) if last else Part(chunk)))
        steps.append(Pause(seconds))
    return steps
