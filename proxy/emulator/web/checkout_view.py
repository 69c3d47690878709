"""The hosted checkout's pages, pure: plain data in, escaped HTML out. The form page (what is
bought, the contact fields with their messages, Pay and Cancel), the completed page (which tells
the embedding page through ``postMessage``), and the pages for a secret that opens nothing.

The messages are exactly what ``@lavapayments/checkout`` 0.1.3 listens for:
``{type: "lava_checkout_success", checkoutSessionId, connectionId}`` (``customerId`` too, as
Lava's docs promise) and ``{type: "lava_checkout_cancel", checkoutSessionId}``; they are posted
to the session's ``origin_url`` origin only, never to ``*``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .checkout_form import FIELDS
from .layout import document, script, usd
from .markup import Markup, el, join, script_json

_LABELS = {"phone": "Phone", "email": "Email", "first_name": "First name",
           "last_name": "Last name"}
_INPUT = {"phone": ("tel", "tel"), "email": ("email", "email"),
          "first_name": ("text", "given-name"), "last_name": ("text", "family-name")}


@dataclass(frozen=True, slots=True)
class Offer:
    """What the session sells: a plan (``subscription``) or a plan's credit bundle (top-up)."""

    mode: str
    plan_name: str
    price: Decimal            # the plan's period amount, or the bundle's cost
    interval: str             # the plan's billing interval
    included_credit: Decimal
    meters: tuple[str, ...] = ()
    bundle_name: str | None = None
    bundle_credit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FormPage:
    checkout_session_id: str
    action: str               # this page's own path: the form posts back to it
    csrf: str
    target_origin: str        # where postMessage goes: the session's origin_url origin
    offer: Offer
    new_customer: bool
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    form_error: str | None = None


def _offer(o: Offer) -> Markup:
    if o.mode == "credit_bundle":
        return el("div", {"class": "offer", "id": "offer"},
                  el("div", {"class": "name", "id": "bundle-name"}, o.bundle_name or "Credit"),
                  el("div", None, el("span", {"class": "price", "id": "price"}, usd(o.price)),
                     el("span", {"class": "per"}, " once")),
                  el("ul", None,
                     el("li", {"id": "bundle-credit"},
                        f"{usd(o.bundle_credit or Decimal(0))} of credit added now"),
                     el("li", {"id": "plan-name"}, f"for your {o.plan_name} plan")))
    items = [el("li", {"id": "included-credit"},
                f"{usd(o.included_credit)} of usage credit every {o.interval}")]
    if o.meters:
        items.append(el("li", None, "Covers: " + ", ".join(o.meters)))
    return el("div", {"class": "offer", "id": "offer"},
              el("div", {"class": "name", "id": "plan-name"}, o.plan_name),
              el("div", None, el("span", {"class": "price", "id": "price"}, usd(o.price)),
                 el("span", {"class": "per", "id": "interval"}, f" per {o.interval}")),
              el("ul", None, items))


def _field(name: str, page: FormPage) -> Markup:
    kind, autocomplete = _INPUT[name]
    error = page.errors.get(name)
    optional = name != "phone"
    label = el("label", {"for": name}, _LABELS[name],
               el("span", {"class": "opt"}, " (optional)") if optional else None)
    box = el("input", {"type": kind, "id": name, "name": name, "autocomplete": autocomplete,
                       "value": page.values.get(name, ""), "required": not optional,
                       "maxlength": 254 if name == "email" else 80,
                       "aria-invalid": "true" if error else None,
                       "aria-describedby": f"{name}-error" if error else None})
    message = el("p", {"class": "field-error", "id": f"{name}-error"}, error) if error else None
    return el("div", {"class": "field"}, label, box, message)


def _contact(page: FormPage) -> Markup:
    if not page.new_customer:
        return el("p", {"class": "note"}, "Paid with the card on file for your account.")
    phone, email, first, last = (_field(f, page) for f in FIELDS)
    return join([phone, email, el("div", {"class": "row"}, first, last)])


_FORM_JS = """(function(){
var d=JSON.parse(document.getElementById("lava-checkout").textContent);
var form=document.getElementById("checkout-form"),pay=document.getElementById("pay");
form.addEventListener("submit",function(){setTimeout(function(){pay.disabled=true;},0);});
document.getElementById("cancel").addEventListener("click",function(){
window.parent.postMessage({type:"lava_checkout_cancel",checkoutSessionId:d.checkoutSessionId},
d.targetOrigin);
form.hidden=true;document.getElementById("cancelled").hidden=false;});
})();"""


def form_page(page: FormPage, nonce: str) -> Markup:
    o = page.offer
    pay = f"Pay {usd(o.price)}" if o.mode == "credit_bundle" else (
        f"Subscribe for {usd(o.price)}/{o.interval}")
    data = {"checkoutSessionId": page.checkout_session_id, "targetOrigin": page.target_origin}
    form = el("form", {"id": "checkout-form", "method": "post", "action": page.action,
                       "novalidate": True},
              el("div", {"class": "form-error", "role": "alert"}, page.form_error)
              if page.form_error else None,
              el("input", {"type": "hidden", "name": "csrf_token", "value": page.csrf}),
              _contact(page),
              el("div", {"class": "actions"},
                 el("button", {"type": "button", "class": "secondary", "id": "cancel"}, "Cancel"),
                 el("button", {"type": "submit", "class": "primary", "id": "pay"}, pay)),
              el("p", {"class": "note"},
                 "Local Lava: no card is charged; completing this page is the payment."))
    body = el("div", {"class": "checkout"}, el("div", {"class": "card"},
              el("div", {"class": "brand"}, "Lava checkout"),
              el("h1", None, "Top up credit" if o.mode == "credit_bundle" else "Subscribe"),
              _offer(o), form,
              el("p", {"id": "cancelled", "hidden": True}, "Checkout cancelled.")),
              el("script", {"type": "application/json", "id": "lava-checkout", "nonce": nonce},
                 script_json(data)),
              script(nonce, _FORM_JS))
    return document("Lava checkout", body, nonce)


_DONE_JS = """(function(){
var d=JSON.parse(document.getElementById("lava-checkout").textContent);
window.parent.postMessage({type:"lava_checkout_success",checkoutSessionId:d.checkoutSessionId,
customerId:d.customerId,connectionId:d.customerId},d.targetOrigin);
})();"""


def done_page(checkout_session_id: str, customer_id: str, target_origin: str, offer: Offer,
              nonce: str) -> Markup:
    what = (f"{usd(offer.bundle_credit or Decimal(0))} of credit was added."
            if offer.mode == "credit_bundle" else f"You are subscribed to {offer.plan_name}.")
    data = {"checkoutSessionId": checkout_session_id, "customerId": customer_id,
            "targetOrigin": target_origin}
    body = el("div", {"class": "checkout"}, el("div", {"class": "card done", "id": "done"},
              el("div", {"class": "tick"}, "\u2713"),
              el("h1", None, "Payment complete"), el("p", None, what),
              el("p", {"class": "note"}, "You can close this window.")),
              el("script", {"type": "application/json", "id": "lava-checkout", "nonce": nonce},
                 script_json(data)),
              script(nonce, _DONE_JS))
    return document("Payment complete", body, nonce)


_CLOSE_JS = """(function(){
var d=JSON.parse(document.getElementById("lava-checkout").textContent);
document.getElementById("close").addEventListener("click",function(){
window.parent.postMessage({type:"lava_checkout_cancel",checkoutSessionId:d.checkoutSessionId},
d.targetOrigin);});
})();"""


def notice_page(title: str, message: str, nonce: str, *, checkout_session_id: str | None = None,
                target_origin: str | None = None) -> Markup:
    """A page for a checkout that cannot go on (unknown, completed, refused). Its Close button
    tells the embedding page to take the frame down: the package only does so on a message.
    Without a known origin the message says nothing (no session id) and may go anywhere."""
    data = {"checkoutSessionId": checkout_session_id, "targetOrigin": target_origin or "*"}
    body = el("div", {"class": "checkout"}, el("div", {"class": "card", "id": "notice"},
              el("div", {"class": "brand"}, "Lava checkout"),
              el("h1", None, title), el("p", None, message),
              el("div", {"class": "actions"},
                 el("button", {"type": "button", "class": "secondary", "id": "close"}, "Close"))),
              el("script", {"type": "application/json", "id": "lava-checkout", "nonce": nonce},
                 script_json(data)),
              script(nonce, _CLOSE_JS))
    return document(title, body, nonce)
