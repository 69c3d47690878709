"""The pure heart of ``reconcile``: the sidecar's usage-log records joined with Lava's request
records on Lava's request id, summed per customer and meter, and every disagreement named.

No I/O here: ``sources`` turns log lines and Lava's answers into ``Served`` and ``Billed``
values; ``render`` prints the ``Report``.

Rules (README, "Reconcile with Lava"):

* A pair belongs to the window by the sidecar's start time; an unmatched record by its own time.
* The sidecar side counts the requests it sent to Lava: lines without a Lava request id never
  reached Lava (refused by the sidecar, or the gateway could not be reached) and lines Lava
  refused before billing (an error status and no usage, no record at Lava) are counted apart.
* A pair agrees when input and output tokens each differ by at most ``tolerance_tokens``, both
  sides name the same customer and meter, and, where the sidecar priced the request and the
  tokens are equal, the charges are equal to 10 decimal places.
* A ``partial`` line (the response ended early) that differs from Lava, or that Lava never
  billed, is an *expected* disagreement: it is shown, and does not fail the run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Final

#: Charges are compared at Lava's precision: 10 fractional digits (lava-api.md 4).
PRECISION: Final = Decimal("0.0000000001")
ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class Served:
    """One usage-log line, as far as reconciling needs it."""

    request_id: str                 # the sidecar's id
    lava_request_id: str | None
    time: float                     # unix seconds, when the sidecar received the request
    customer: str | None
    meter: str | None               # meter slug
    input_tokens: int
    output_tokens: int
    charge: Decimal | None          # None: the sidecar had no price for it
    partial: bool
    outcome: str
    status: int

    @property
    def has_usage(self) -> bool:
        return self.input_tokens > 0 or self.output_tokens > 0


@dataclass(frozen=True, slots=True)
class Billed:
    """One of Lava's request records."""

    request_id: str
    time: float | None              # unix seconds (``timestamp``, else ``created_at``)
    customer: str | None
    meter: str | None               # meter slug when Lava's meter id is known, else the id
    input_tokens: int
    output_tokens: int
    charge: Decimal
    status: str                     # pending | completed | error


@dataclass(frozen=True, slots=True)
class Window:
    """``[since, until)`` in unix seconds; either end open when ``None``."""

    since: float | None = None
    until: float | None = None

    def holds(self, t: float | None) -> bool:
        if t is None:
            return True  # a record without a time cannot be placed outside any window
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)


class Kind(Enum):
    """What is wrong with one request. ``expected`` kinds are shown but do not fail the run."""

    TOKENS_DIFFER = "tokens_differ"
    CHARGE_DIFFERS = "charge_differs"
    ATTRIBUTION_DIFFERS = "attribution_differs"
    UNKNOWN_TO_LAVA = "unknown_to_lava"
    NOT_RECORDED = "not_recorded_by_sidecar"
    DUPLICATE = "duplicate_in_usage_log"
    PARTIAL = "partial"
    PENDING = "pending_at_lava"

    @property
    def expected(self) -> bool:
        return self in (Kind.PARTIAL, Kind.PENDING)

    @property
    def sentence(self) -> str:
        return _SENTENCES[self]


_SENTENCES: Final = {
    Kind.TOKENS_DIFFER: "tokens differ",
    Kind.CHARGE_DIFFERS: "charge differs",
    Kind.ATTRIBUTION_DIFFERS: "customer or meter differs",
    Kind.UNKNOWN_TO_LAVA: "recorded by the sidecar, unknown to Lava",
    Kind.NOT_RECORDED: "billed by Lava, never recorded by the sidecar",
    Kind.DUPLICATE: "recorded more than once by the sidecar",
    Kind.PARTIAL: "the response ended early (partial): expected to differ",
    Kind.PENDING: "still pending at Lava: expected to differ until it completes",
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    lava_request_id: str | None
    sidecar_request_id: str | None
    customer: str | None
    meter: str | None
    time: float | None
    served: Served | None
    billed: Billed | None


@dataclass(slots=True)
class Side:
    """One side's sums for a customer and meter."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    charge: Decimal = ZERO
    #: Requests whose charge the sidecar did not know (no price): ``charge`` leaves them out.
    unpriced: int = 0

    def add(self, input_tokens: int, output_tokens: int, charge: Decimal | None) -> None:
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if charge is None:
            self.unpriced += 1
        else:
            self.charge += charge


@dataclass(slots=True)
class Group:
    customer: str | None
    meter: str | None
    sidecar: Side = field(default_factory=Side)
    lava: Side = field(default_factory=Side)

    @property
    def charges_compared(self) -> bool:
        """Whether the charges can be compared: only when the sidecar priced every request (an
        unpriced one, whose meter had no price yet, is left out of its sum, so the sums differ by
        what Lava billed for it; that is not a disagreement, and not an agreement either)."""
        return self.sidecar.unpriced == 0

    @property
    def agrees(self) -> bool:
        """The sums are equal: requests and tokens always, charges where they are compared."""
        s, lv = self.sidecar, self.lava
        return (s.requests, s.input_tokens, s.output_tokens) == (
            lv.requests, lv.input_tokens, lv.output_tokens) and (
            not self.charges_compared or _money(s.charge) == _money(lv.charge))


@dataclass(slots=True)
class Report:
    window: Window
    tolerance_tokens: int
    groups: list[Group]
    findings: list[Finding]
    matched: int = 0
    #: Lines that never reached Lava (no Lava request id): refused by the sidecar, unreachable.
    not_sent: int = 0
    #: Lines Lava refused before billing (error status, no usage, no record at Lava).
    refused_by_lava: int = 0

    @property
    def disagreements(self) -> list[Finding]:
        return [f for f in self.findings if not f.kind.expected]

    @property
    def expected(self) -> list[Finding]:
        return [f for f in self.findings if f.kind.expected]

    @property
    def agrees(self) -> bool:
        return not self.disagreements


def _money(value: Decimal) -> Decimal:
    return value.quantize(PRECISION)


def _pair_kind(s: Served, b: Billed, tolerance: int) -> Kind | None:
    tokens_close = (abs(s.input_tokens - b.input_tokens) <= tolerance
                    and abs(s.output_tokens - b.output_tokens) <= tolerance)
    if s.partial and (s.input_tokens, s.output_tokens) != (b.input_tokens, b.output_tokens):
        return Kind.PARTIAL
    if b.status == "pending" and not tokens_close:
        return Kind.PENDING
    if (s.customer, s.meter) != (b.customer, b.meter):
        return Kind.ATTRIBUTION_DIFFERS
    if not tokens_close:
        return Kind.TOKENS_DIFFER
    exact = (s.input_tokens, s.output_tokens) == (b.input_tokens, b.output_tokens)
    if exact and s.charge is not None and _money(s.charge) != _money(b.charge):
        return Kind.CHARGE_DIFFERS
    return None


def reconcile(served: Iterable[Served], billed: Iterable[Billed], window: Window, *,
              tolerance_tokens: int = 0) -> Report:
    """Join both sides on Lava's request id and report, per customer and meter, and per request.

    ``served`` may hold lines outside the window (they place pairs that straddle its edges);
    ``billed`` should hold Lava's records for the window and a margin around it.
    """
    report = Report(window, tolerance_tokens, [], [])
    groups: dict[tuple[str | None, str | None], Group] = {}

    def group(customer: str | None, meter: str | None) -> Group:
        key = (customer, meter)
        found = groups.get(key)
        if found is None:
            found = groups[key] = Group(customer, meter)
        return found

    def finding(kind: Kind, s: Served | None, b: Billed | None) -> None:
        ref = s if s is not None else b
        assert ref is not None
        report.findings.append(Finding(
            kind, s.lava_request_id if s is not None else b.request_id if b else None,
            s.request_id if s is not None else None, ref.customer, ref.meter,
            s.time if s is not None else b.time if b else None, s, b))

    lava: dict[str, Billed] = {}
    for record in billed:
        lava.setdefault(record.request_id, record)
    seen: set[str] = set()  # Lava ids the sidecar logged, in the window or not
    mine: list[Served] = []
    for s in served:
        if s.lava_request_id is not None:
            if s.lava_request_id in seen and window.holds(s.time):
                finding(Kind.DUPLICATE, s, lava.get(s.lava_request_id))
                continue
            seen.add(s.lava_request_id)
        if window.holds(s.time):
            mine.append(s)

    for s in mine:
        if s.lava_request_id is None:
            report.not_sent += 1
            continue
        pair = lava.get(s.lava_request_id)
        if pair is None and not s.has_usage and s.status >= 400:
            report.refused_by_lava += 1
            continue
        group(s.customer, s.meter).sidecar.add(s.input_tokens, s.output_tokens, s.charge)
        if pair is None:
            finding(Kind.PARTIAL if s.partial else Kind.UNKNOWN_TO_LAVA, s, None)
            continue
        report.matched += 1
        group(pair.customer, pair.meter).lava.add(pair.input_tokens, pair.output_tokens,
                                                  pair.charge)
        kind = _pair_kind(s, pair, tolerance_tokens)
        if kind is not None:
            finding(kind, s, pair)

    for b in lava.values():
        if b.request_id in seen or not window.holds(b.time):
            continue
        group(b.customer, b.meter).lava.add(b.input_tokens, b.output_tokens, b.charge)
        finding(Kind.PENDING if b.status == "pending" else Kind.NOT_RECORDED, None, b)

    report.groups = sorted(groups.values(), key=lambda g: (g.customer or "", g.meter or ""))
    report.findings.sort(key=lambda f: (f.kind.expected, f.time or 0.0, f.lava_request_id or ""))
    return report
