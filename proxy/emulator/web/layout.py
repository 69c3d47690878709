"""The document every page is poured into (doctype, charset, viewport, title, the one stylesheet
as an inline ``<style>`` carrying the response's nonce) and the formats pages share for money,
counts and times. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from .markup import Markup, el, join

#: No external assets: the page must render inside a sandboxed iframe with ``default-src 'none'``.
CSS = """
:root{--ink:#1d1b26;--mute:#6b6880;--line:#e4e2ee;--brand:#e8432f;--brand2:#b72d1c;--bg:#f7f6fb;
--ok:#1e7d4f;--warn:#a15c00;--bad:#b3261e;font:15px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,sans-serif;color:var(--ink)}
*{box-sizing:border-box}body{margin:0;background:var(--bg)}
a{color:var(--brand2)}h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
.checkout{min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1rem;
background:rgba(29,27,38,.55)}
.card{background:#fff;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);padding:1.6rem;
width:100%;max-width:420px}
.brand{font-weight:700;color:var(--brand);letter-spacing:.02em;font-size:.9rem}
.offer{border:1px solid var(--line);border-radius:10px;padding:.9rem 1rem;margin:.8rem 0 1.2rem}
.offer .name{font-weight:650;font-size:1.15rem}.offer .price{font-size:1.6rem;font-weight:700}
.offer .per{color:var(--mute);font-size:.95rem}.offer ul{margin:.5rem 0 0;padding-left:1.1rem}
label{display:block;font-weight:600;font-size:.9rem;margin:.7rem 0 .25rem}
label .opt{font-weight:400;color:var(--mute)}
input[type=text],input[type=tel],input[type=email]{width:100%;padding:.55rem .65rem;
border:1px solid #cfcde0;border-radius:8px;font:inherit}
input[aria-invalid=true]{border-color:var(--bad);outline-color:var(--bad)}
.field-error,.form-error{color:var(--bad);font-size:.85rem;margin:.25rem 0 0}
.form-error{background:#fdecea;border-radius:8px;padding:.5rem .7rem;margin:0 0 .8rem}
.row{display:flex;gap:.7rem}.row>div{flex:1}
.actions{display:flex;gap:.7rem;margin-top:1.3rem}
button{font:inherit;font-weight:600;border-radius:8px;padding:.6rem 1rem;cursor:pointer;
border:1px solid transparent}
button.primary{background:var(--brand);color:#fff;flex:1}button.primary:disabled{opacity:.6}
button.secondary{background:#fff;border-color:#cfcde0;color:var(--ink)}
.note{color:var(--mute);font-size:.85rem;margin-top:1rem}
.done{text-align:center}.done .tick{font-size:2.4rem;color:var(--ok)}
nav{background:#fff;border-bottom:1px solid var(--line);padding:.6rem 1.4rem;display:flex;gap:1.2rem;
align-items:center;flex-wrap:wrap}
nav .brand{margin-right:1rem}nav a{text-decoration:none;color:var(--ink)}
nav a.here{color:var(--brand2);font-weight:650}
main{padding:1.2rem 1.4rem;max-width:1200px}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.stat{background:#fff;border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem;min-width:10rem}
.stat .v{font-size:1.4rem;font-weight:700}.stat .k{color:var(--mute);font-size:.85rem}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);width:100%;font-size:.9rem}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#fbfaff;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82rem}
.pill{display:inline-block;border-radius:99px;padding:0 .5rem;font-size:.8rem;font-weight:600}
.pill.ok{background:#e3f4eb;color:var(--ok)}.pill.warn{background:#fff1dc;color:var(--warn)}
.pill.off{background:#eeedf3;color:var(--mute)}.pill.bad{background:#fdecea;color:var(--bad)}
.pager{margin:.8rem 0;display:flex;gap:1rem}.muted{color:var(--mute)}
.chart{background:#fff;border:1px solid var(--line);border-radius:10px;padding:.6rem;max-width:940px}
.legend{list-style:none;display:flex;gap:1.2rem;flex-wrap:wrap;padding:0;margin:.4rem 0 0 .6rem}
.chart svg{max-width:100%;height:auto}.chart text{font-size:11px;fill:#6b6880}
.tabs a{margin-right:.8rem}
"""


def document(title: str, body: Markup, nonce: str, *, body_class: str | None = None) -> Markup:
    head = el("head", None,
              el("meta", {"charset": "utf-8"}),
              el("meta", {"name": "viewport", "content": "width=device-width,initial-scale=1"}),
              el("meta", {"name": "referrer", "content": "same-origin"}),
              el("title", None, title),
              el("style", {"nonce": nonce}, Markup(CSS)))
    return Markup("<!doctype html>" + el("html", {"lang": "en"}, head,
                                         el("body", {"class": body_class}, body)))


def script(nonce: str, code: str) -> Markup:
    """An inline script allowed by the page's nonce. ``code`` is the module's own constant text
    (data goes in with ``markup.script_json``), never anything a request supplied."""
    return el("script", {"nonce": nonce}, Markup(code))


def usd(amount: Decimal) -> str:
    """Dollars as a person reads them: at least cents, every significant digit kept up to
    Lava's ten (a request's charge is often a fraction of a cent: ``$0.000057``)."""
    q = amount.quantize(Decimal("0.0000000001"))
    text = f"{q:f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def count(n: int) -> str:
    return f"{n:,}"


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pill(text: str, kind: str) -> Markup:
    return el("span", {"class": f"pill {kind}"}, text)


def joined(*parts: object) -> Markup:
    return join(parts)
