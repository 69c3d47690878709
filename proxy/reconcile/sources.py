"""The thin shell around ``core``: the usage log read back (every rotation, gzip included, through
``proxy.usagelog``) and Lava's request records fetched for the window (``GET /v1/requests``, every
page, through ``proxy.billing``). Everything that can stop a run becomes a ``ReconcileFailed``
with one sentence for the user; the secret key is never part of one."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, Final

from ..errors import SidecarError
from ..usagelog import decode_line, file_lines, rotated_files
from .core import Billed, Report, Served, Window, reconcile
from .render import Inputs, plural

if TYPE_CHECKING:
    from ..billing import LavaClient
    from ..billing import RequestRecord as LavaRecord
    from ..secret import Secret

#: Lava records a request when it settles, the sidecar when the request arrived: records this
#: far outside the window are still fetched and read, so a pair across an edge is one pair.
MARGIN_SECONDS: Final = 3600.0
PAGE_SIZE: Final = 100  # Lava's largest page (lava-api.md 1.3)

Progress = Callable[[int, int], None]  # (pages fetched, records kept)


class ReconcileFailed(SidecarError):
    """Reconcile could not run (exit 2): the message says what to fix."""

    code: ClassVar[str] = "reconcile_failed"


@dataclass(slots=True)
class LogRead:
    served: list[Served]
    files: tuple[str, ...]
    lines: int = 0
    unreadable: int = 0


def log_paths(paths: Sequence[str]) -> tuple[str, ...]:
    """Each path with its rotations (``PATH.N``, ``PATH.N.gz``), oldest first, each file once."""
    out: list[str] = []
    known: set[str] = set()
    for path in paths:
        try:
            names = rotated_files(path)
        except OSError as exc:
            raise ReconcileFailed(f"cannot read the usage log {path}: "
                                  f"{exc.strerror or exc}") from exc
        if not names:
            raise ReconcileFailed(f"cannot read the usage log {path}: no such file (nor any "
                                  f"rotation of it, {os.path.basename(path)}.N[.gz])")
        for name in names:
            real = os.path.realpath(name)
            if real not in known:
                known.add(real)
                out.append(name)
    return tuple(out)


def _served(line: bytes) -> Served | None:
    decoded = decode_line(line)
    if decoded is None:
        return None
    rec, charge = decoded
    u = rec.usage
    return Served(rec.request_id, rec.lava_request_id, rec.started_at, rec.customer_id,
                  rec.meter_slug, u.input_tokens or 0, u.output_tokens or 0, charge, rec.partial,
                  rec.outcome, rec.status)


def read_log(paths: Sequence[str], window: Window, *, customer: str | None = None,
             margin: float = MARGIN_SECONDS) -> LogRead:
    """Every record of the usage log near the window (and of ``customer`` when given)."""
    files = log_paths(paths)
    wide = _widen(window, margin)
    out = LogRead([], files)
    for name in files:
        try:
            for line in file_lines(name):
                if not line.strip():
                    continue
                out.lines += 1
                s = _served(line)
                if s is None:
                    out.unreadable += 1
                elif wide.holds(s.time) and (customer is None or s.customer == customer):
                    out.served.append(s)
        except OSError as exc:
            raise ReconcileFailed(f"cannot read the usage log {name}: "
                                  f"{exc.strerror or exc}") from exc
    return out


def _widen(window: Window, margin: float) -> Window:
    return Window(None if window.since is None else window.since - margin,
                  None if window.until is None else window.until + margin)


def _seconds(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def _billed(r: LavaRecord, slugs: dict[str, str]) -> Billed:
    meter = None if r.meter_id is None else slugs.get(r.meter_id, r.meter_id)
    return Billed(r.request_id, _seconds(r.timestamp or r.created_at), r.customer_id, meter,
                  r.model_usage.input_tokens, r.model_usage.output_tokens, r.charge.amount,
                  r.status)


def _records(lava: LavaClient, customer: str | None) -> Iterator[list[LavaRecord]]:
    cursor: str | None = None
    while True:
        page = lava.requests.list(customer_id=customer, limit=PAGE_SIZE, cursor=cursor)
        yield list(page.data)
        if not page.has_more or not page.next_cursor:
            return
        if page.next_cursor == cursor:
            raise ReconcileFailed("Lava's request list did not advance (the same cursor twice); "
                                  "try again later")
        cursor = page.next_cursor


def fetch_billed(lava: LavaClient, window: Window, *, customer: str | None = None,
                 margin: float = MARGIN_SECONDS, progress: Progress | None = None
                 ) -> tuple[list[Billed], int]:
    """Lava's records near the window (all pages), and how many records were read in all.

    ``GET /requests`` takes no time filter, so pages are read until the list ends, or, while
    it comes newest first (as Lava's lists do), until a page lies wholly before the window.
    """
    from ..billing import LavaError

    wide = _widen(window, margin)
    kept: list[Billed] = []
    read = pages = 0
    newest_first, last = True, float("inf")
    try:
        slugs = {m.meter_id: m.meter_slug for m in lava.meters.iter(limit=PAGE_SIZE)}
        for batch in _records(lava, customer):
            pages += 1
            read += len(batch)
            older = 0
            for r in batch:
                b = _billed(r, slugs)
                if b.time is not None:
                    newest_first &= b.time <= last
                    last = b.time
                    older += wide.since is not None and b.time < wide.since
                if wide.holds(b.time):
                    kept.append(b)
            if progress is not None:
                progress(pages, len(kept))
            if newest_first and batch and older == len(batch):
                break
    except LavaError as exc:
        raise ReconcileFailed(_lava_sentence(exc, lava)) from exc
    return kept, read


def audit(paths: Sequence[str], window: Window, *, customer: str | None = None,
          tolerance_tokens: int = 0, base_url: str | None = None,
          secret_key: Secret | str | None = None, timeout: float = 30.0,
          progress: Progress | None = None, said: Callable[[str], None] | None = None
          ) -> tuple[Report, Inputs]:
    """The whole run: read the log, fetch Lava's records, join. Blocking (sync HTTP): from an
    event loop, run it in a thread. ``said`` receives one-line progress notes."""
    from ..billing import LavaClient, LavaConfigError

    log = read_log(paths, window, customer=customer)
    if said is not None:
        said(f"{plural(log.lines, 'usage-log line')} read from {plural(len(log.files), 'file')}")
    try:
        with LavaClient(base_url=base_url, secret_key=secret_key, timeout=timeout) as lava:
            billed, fetched = fetch_billed(lava, window, customer=customer, progress=progress)
            url = lava.settings.base_url
    except LavaConfigError as exc:
        raise ReconcileFailed(exc.message) from exc
    if said is not None:
        said(f"{plural(fetched, 'Lava request record')} read")
    report = reconcile(log.served, billed, window, tolerance_tokens=tolerance_tokens)
    return report, Inputs(log.files, log.lines, log.unreadable, fetched, url)


def _lava_sentence(exc: Exception, lava: LavaClient) -> str:
    from ..billing import LavaAuthError, LavaConnectionError, LavaTimeout

    where = lava.settings.base_url
    if isinstance(exc, LavaTimeout):
        return f"Lava at {where} did not answer in time; try again, or raise --timeout"
    if isinstance(exc, LavaConnectionError):
        return (f"cannot reach Lava at {where}: check LAVA_GATEWAY_URL (or --gateway) and the "
                "network")
    if isinstance(exc, LavaAuthError):
        return (f"Lava at {where} refused the secret key ({lava.settings.secret_key.hint()}): "
                "check LAVA_SECRET_KEY")
    return f"Lava at {where} answered with an error: {exc}"
