"""A ``Report`` as text for people (a table per customer and meter, then each disagreeing request)
or as one JSON document for scripts. Pure: strings in, strings out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from ..money import usd
from .core import PRECISION, Billed, Finding, Group, Report, Served, Side

#: Requests listed one by one in the text report; the JSON document lists them all.
MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class Inputs:
    """What was read, for the report's header: files, lines, and Lava records fetched."""

    files: tuple[str, ...]
    lines: int
    unreadable_lines: int
    lava_records: int
    lava_url: str


#: What "equal" means when the sidecar could not price a request, said in the table and the README
#: (the JSON says it as ``charges_compared: false`` and a ``null`` charge difference).
NOT_COMPARED: Final = (
    "the sidecar had no price for some of their requests (their meter was not yet in its catalog), "
    "so its charge sum leaves them out; requests and tokens are still compared, and a request "
    "whose charge the sidecar did compute is still checked one by one.")


def when(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def money(value: Decimal) -> str:
    """At Lava's precision, in the one format every charge is printed in (``proxy.money``)."""
    return usd(value.quantize(PRECISION))


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"


def _side_charge(side: Side) -> str | None:
    """The sum of the charges known; ``None`` when none is (every request unpriced), as /usage."""
    return None if side.requests and side.unpriced == side.requests else money(side.charge)


def _side(side: Side) -> dict[str, object]:
    return {"requests": side.requests, "input_tokens": side.input_tokens,
            "output_tokens": side.output_tokens, "charge_usd": _side_charge(side),
            "unpriced_requests": side.unpriced}


def _difference(g: Group) -> dict[str, object]:
    s, lv = g.sidecar, g.lava
    return {"requests": s.requests - lv.requests, "input_tokens": s.input_tokens - lv.input_tokens,
            "output_tokens": s.output_tokens - lv.output_tokens,
            # Not compared (unpriced requests on the sidecar's side): no difference to show.
            "charge_usd": money(s.charge - lv.charge) if g.charges_compared else None}


def _served(s: Served | None) -> dict[str, object] | None:
    if s is None:
        return None
    return {"input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
            "charge_usd": None if s.charge is None else money(s.charge), "partial": s.partial,
            "outcome": s.outcome, "status": s.status, "time": when(s.time)}


def _billed(b: Billed | None) -> dict[str, object] | None:
    if b is None:
        return None
    return {"input_tokens": b.input_tokens, "output_tokens": b.output_tokens,
            "charge_usd": money(b.charge), "status": b.status, "customer": b.customer,
            "meter": b.meter, "time": when(b.time)}


def _finding(f: Finding) -> dict[str, object]:
    return {"kind": f.kind.value, "expected": f.kind.expected, "what": f.kind.sentence,
            "lava_request_id": f.lava_request_id, "sidecar_request_id": f.sidecar_request_id,
            "customer": f.customer, "meter": f.meter, "time": when(f.time),
            "sidecar": _served(f.served), "lava": _billed(f.billed)}


def _per_group(report: Report) -> dict[tuple[str | None, str | None], tuple[int, int]]:
    """(disagreements, expected disagreements) per customer and meter, by the finding's side."""
    out: dict[tuple[str | None, str | None], tuple[int, int]] = {}
    for f in report.findings:
        bad, fine = out.get((f.customer, f.meter), (0, 0))
        out[(f.customer, f.meter)] = (bad, fine + 1) if f.kind.expected else (bad + 1, fine)
    return out


def to_json(report: Report, inputs: Inputs) -> str:
    counts = _per_group(report)
    doc = {
        "agree": report.agrees,
        "window": {"since": when(report.window.since), "until": when(report.window.until)},
        "tolerance_tokens": report.tolerance_tokens,
        "inputs": {"usage_log_files": list(inputs.files), "lines": inputs.lines,
                   "unreadable_lines": inputs.unreadable_lines,
                   "lava_records_fetched": inputs.lava_records, "lava": inputs.lava_url},
        "matched": report.matched,
        "not_sent_to_lava": report.not_sent,
        "refused_by_lava": report.refused_by_lava,
        "groups": [{"customer": g.customer, "meter": g.meter,
                    # Agreement is per request: sums may differ by expected (partial) records.
                    "agree": counts.get((g.customer, g.meter), (0, 0))[0] == 0,
                    # Requests and tokens equal; charges too where compared (see NOT_COMPARED).
                    "sums_equal": g.agrees,
                    "charges_compared": g.charges_compared,
                    "disagreements": counts.get((g.customer, g.meter), (0, 0))[0],
                    "expected_disagreements": counts.get((g.customer, g.meter), (0, 0))[1],
                    "sidecar": _side(g.sidecar), "lava": _side(g.lava),
                    "difference": _difference(g)} for g in report.groups],
        "disagreements": [_finding(f) for f in report.disagreements],
        "expected_disagreements": [_finding(f) for f in report.expected],
    }
    return json.dumps(doc, indent=2)


def _counts(s: Served | None, b: Billed | None) -> str:
    parts = []
    if s is not None:
        charge = "unpriced" if s.charge is None else f"${money(s.charge)}"
        parts.append(f"sidecar {s.input_tokens} in / {s.output_tokens} out, {charge}"
                     f"{' (partial, ' + s.outcome + ')' if s.partial else ''}")
    if b is not None:
        parts.append(f"Lava {b.input_tokens} in / {b.output_tokens} out, ${money(b.charge)}"
                     f"{'' if b.status == 'completed' else ' (' + b.status + ')'}")
    return "; ".join(parts)


def _line(f: Finding) -> str:
    who = f"{f.customer or '(merchant)'} / {f.meter or '-'}"
    ids = f.lava_request_id or "-"
    if f.sidecar_request_id:
        ids += f" (sidecar {f.sidecar_request_id})"
    extra = ""
    if f.kind.value == "attribution_differs" and f.billed is not None:
        extra = f"; Lava says {f.billed.customer or '(merchant)'} / {f.billed.meter or '-'}"
    return f"  {ids}  {when(f.time) or '?'}  {who}: {f.kind.sentence}: {_counts(f.served, f.billed)}{extra}"


def _table(report: Report) -> list[str]:
    head = ("customer", "meter", "side", "requests", "input tokens", "output tokens", "charge USD")
    rows: list[tuple[str, ...]] = []
    for g in report.groups:
        d = _difference(g)
        for label, side in (("sidecar", g.sidecar), ("Lava", g.lava)):
            charge = (_side_charge(side) or "null") + (
                f" ({side.unpriced} unpriced)" if side.unpriced else "")
            rows.append((g.customer or "(merchant)" if label == "sidecar" else "",
                         (g.meter or "-") if label == "sidecar" else "", label,
                         str(side.requests), str(side.input_tokens), str(side.output_tokens),
                         charge))
        rows.append(("", "", "difference", *(str(d[k]) for k in (
            "requests", "input_tokens", "output_tokens")),
            "not compared" if d["charge_usd"] is None else str(d["charge_usd"])))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]

    def fmt(r: tuple[str, ...]) -> str:
        left = [r[i].ljust(widths[i]) for i in range(3)]
        right = [r[i].rjust(widths[i]) for i in range(3, len(r))]
        return "  ".join(left + right).rstrip()

    return [fmt(head), "-" * len(fmt(head)), *(fmt(r) for r in rows)]


def to_text(report: Report, inputs: Inputs) -> str:
    since, until = when(report.window.since), when(report.window.until)
    out = [f"Usage log ({plural(len(inputs.files), 'file')}, {plural(inputs.lines, 'line')}) "
           f"against Lava at {inputs.lava_url} "
           f"({plural(inputs.lava_records, 'request record')} fetched)",
           f"Window: {since or 'the beginning'} to {until or 'now'}; "
           f"tolerance {report.tolerance_tokens} tokens per request", ""]
    if report.groups:
        out += _table(report)
    else:
        out.append("No requests in the window on either side.")
    notes = [f"{plural(report.matched, 'request')} matched"]
    if report.not_sent:
        notes.append(f"{report.not_sent} never reached Lava (refused by the sidecar or Lava "
                     "unreachable)")
    if report.refused_by_lava:
        notes.append(f"{report.refused_by_lava} refused by Lava before billing")
    if inputs.unreadable_lines:
        notes.append(f"{plural(inputs.unreadable_lines, 'usage-log line')} unreadable and skipped")
    out += ["", "; ".join(notes) + "."]
    uncompared = sum(not g.charges_compared for g in report.groups)
    if uncompared:
        groups = plural(uncompared, "customer and meter", "customers and meters")
        out += ["", f"Charges not compared for {groups}: {NOT_COMPARED}"]
    for title, items in ((f"{plural(len(report.disagreements), 'request')} "
                          f"disagree{'s' if len(report.disagreements) == 1 else ''}:",
                          report.disagreements),
                         (f"{plural(len(report.expected), 'expected disagreement')} (not errors):",
                          report.expected)):
        if not items:
            continue
        out += ["", title]
        out += [_line(f) for f in items[:MAX_LISTED]]
        if len(items) > MAX_LISTED:
            out.append(f"  … and {len(items) - MAX_LISTED} more (--json lists them all)")
    out += ["", "The sidecar's numbers agree with what Lava billed." if report.agrees else
            "The sidecar's numbers and what Lava billed DISAGREE (see above)."]
    return "\n".join(out)
