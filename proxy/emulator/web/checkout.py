"""The hosted checkout page's handlers, ``GET``/``POST /embed/checkout/{secret}``: what
``@lavapayments/checkout`` opens in its sandboxed iframe. Thin: find the session by its secret,
read the form, call the accounts' ``complete_checkout`` (the very function behind the REST
stand-in ``POST /v1/checkout_sessions/{id}/complete``: customer, subscription or bundle credit,
webhooks), and pour the outcome into ``checkout_view``.

The secret in the URL is the capability, as on Lava. The form also carries a per-session token
and must come from this origin; a second submit of a completed session answers as the first did
(one customer, one subscription), a GET of it is 410."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web

from ..accounts import AccountsError, LocalAccounts, Scope, complete_checkout
from ..accounts.records import CheckoutSession
from .checkout_form import MAX_FORM_BYTES, FormTooLarge, check, csrf_token, parse_form, token_ok
from .checkout_view import FormPage, Offer, done_page, form_page, notice_page
from .security import html_response, origin_of, policy

log = logging.getLogger("lava_sidecar.emulator.web")

#: What ``create_checkout`` issues; anything else is not looked up at all.
SECRET = re.compile(r"css_(test|live)_[0-9a-f]{32}\Z")
PATH = "/embed/checkout/{secret}"


class _Gone(Exception):
    """What the session sells no longer exists (its plan or bundle was deleted)."""


def offer_of(scope: Scope, cs: CheckoutSession) -> Offer:
    plan = scope.plans.get(cs.plan_id or "")
    if plan is None:
        raise _Gone
    meters = tuple(m.name for m in (scope.meters.get(i) for i in plan.meter_ids) if m is not None)
    if cs.checkout_mode != "credit_bundle":
        return Offer("subscription", plan.name, plan.period_amount, plan.billing_interval,
                     plan.included_credit, meters)
    bundle = scope.bundles.get(cs.credit_bundle_id or "")
    if bundle is None:
        raise _Gone
    return Offer("credit_bundle", plan.name, bundle.cost, plan.billing_interval,
                 plan.included_credit, meters, bundle.name, bundle.credit_amount)


def _missing() -> web.Response:
    pol = policy(frame_ancestors=None)
    return html_response(notice_page(
        "Checkout not found", "This checkout link is not valid. Start the checkout again from "
        "the page that sent you here.", pol.nonce), 404, pol)


def _same_origin(request: web.Request) -> bool:
    """A browser names where a POST came from; only this page's own origin may submit it."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    sent = request.headers.get("Origin")
    return sent is None or sent == origin_of(f"{request.scheme}://{request.host}/")


async def _read_form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise FormTooLarge("the form must be sent as application/x-www-form-urlencoded")
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise FormTooLarge(f"the form is over {MAX_FORM_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(4096):
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise FormTooLarge(f"the form is over {MAX_FORM_BYTES} bytes")
    return parse_form(bytes(raw))


@dataclass(slots=True)
class CheckoutPages:
    accounts: LocalAccounts
    #: Keys the form tokens; new per gateway process (an open form then asks to submit again).
    form_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.show), web.post(PATH, self.submit)]

    def _find(self, secret: str) -> tuple[Scope, CheckoutSession] | None:
        return self.accounts.checkout_by_secret(secret) if SECRET.match(secret) else None

    async def show(self, request: web.Request) -> web.StreamResponse:
        try:
            found = self._find(request.match_info["secret"])
            if found is None:
                return _missing()
            scope, cs = found
            return self._page(request, scope, cs, status=200)
        except Exception:
            log.exception("checkout page %s failed", request.method)
            return _broken()

    async def submit(self, request: web.Request) -> web.StreamResponse:
        try:
            found = self._find(request.match_info["secret"])
            if found is None:
                return _missing()
            scope, cs = found
            origin = origin_of(cs.origin_url)
            if origin is None:
                return _no_origin()
            try:
                form = await _read_form(request)
            except FormTooLarge as exc:
                return self._page(request, scope, cs, status=400, form_error=(
                    f"The form could not be read ({exc}); submit it again."))
            # Read again after the await: another submit may have completed it meanwhile. From
            # here to the answer nothing awaits, so one submit's check and completion are one step.
            found = self._find(request.match_info["secret"])
            if found is None:
                return _missing()
            scope, cs = found
            if not _same_origin(request) or not token_ok(self.form_key, cs.secret,
                                                         form.get("csrf_token")):
                return self._page(request, scope, cs, status=403, form_error=(
                    "This form expired or was not sent from this page: check the details "
                    "and submit again."))
            return self._complete(request, scope, cs, origin, form)
        except Exception:
            log.exception("checkout page %s failed", request.method)
            return _broken()

    def _complete(self, request: web.Request, scope: Scope, cs: CheckoutSession, origin: str,
                  form: dict[str, str]) -> web.Response:
        if cs.completed_at is not None and cs.customer_id is not None:
            # The same form sent again (a double click, a resend): the first submit's answer.
            return self._done(scope, cs, origin, cs.customer_id)
        checked = check(form, new_customer=cs.customer_id is None)
        if checked.contact is None:
            return self._page(request, scope, cs, status=400, values=checked.values,
                              errors=checked.errors)
        contact = checked.contact
        # No await from here to the flush: the completion and its webhooks are one step.
        try:
            done, customer = complete_checkout(
                scope, cs.checkout_session_id, phone=contact.phone, email=contact.email,
                first_name=contact.first_name, last_name=contact.last_name)
        except AccountsError as exc:
            self.accounts.discard_events()
            return self._page(request, scope, cs, status=exc.status if exc.status < 500 else 400,
                              values=checked.values, form_error=exc.message)
        except BaseException:
            self.accounts.discard_events()
            raise
        self.accounts.flush_events()
        return self._done(scope, done, origin, customer.customer_id)

    def _page(self, request: web.Request, scope: Scope, cs: CheckoutSession, *, status: int,
              values: Mapping[str, str] | None = None, errors: Mapping[str, str] | None = None,
              form_error: str | None = None) -> web.Response:
        origin = origin_of(cs.origin_url)
        if origin is None:
            return _no_origin()
        pol = policy(frame_ancestors=(origin,), forms=True)
        try:
            offer = offer_of(scope, cs)
        except _Gone:
            return html_response(notice_page(
                "Checkout unavailable", "What this checkout sells is no longer offered.",
                pol.nonce, checkout_session_id=cs.checkout_session_id, target_origin=origin),
                410, pol)
        if cs.completed_at is not None:
            return html_response(notice_page(
                "Checkout already completed", "This checkout was completed already; there is "
                "nothing left to pay.", pol.nonce, checkout_session_id=cs.checkout_session_id,
                target_origin=origin), 410, pol)
        page = FormPage(cs.checkout_session_id, request.path, csrf_token(self.form_key, cs.secret),
                        origin, offer, cs.customer_id is None, values or {}, errors or {},
                        form_error)
        return html_response(form_page(page, pol.nonce), status, pol)

    def _done(self, scope: Scope, cs: CheckoutSession, origin: str,
              customer_id: str) -> web.Response:
        pol = policy(frame_ancestors=(origin,))
        try:
            offer = offer_of(scope, cs)
        except _Gone:
            offer = Offer(cs.checkout_mode, "your plan", Decimal(0), "month", Decimal(0))
        return html_response(done_page(cs.checkout_session_id, customer_id, origin, offer,
                                       pol.nonce), 200, pol)


def _no_origin() -> web.Response:
    pol = policy(frame_ancestors=None)
    return html_response(notice_page(
        "Checkout cannot open", "This checkout session's origin_url is not a web origin, so the "
        "page cannot answer the site that opened it.", pol.nonce), 400, pol)


def _broken() -> web.Response:
    pol = policy(frame_ancestors=None)
    return html_response(notice_page(
        "Checkout failed", "The local Lava failed on this page; its log says why.", pol.nonce),
        500, pol)
