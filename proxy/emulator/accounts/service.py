"""``LocalAccounts``: the local Lava's merchant state behind the ``Accounts`` seam (admit before the
provider is called, settle after) and the entry point of the management REST API.

Gateway refusals (``admit``), chosen to read like Lava's (exact codes are UNCONFIRMED upstream):
    401 invalid_secret_key       the token's secret key belongs to no merchant
    401 unsupported_token_format a pre-2025 token (connection/product secrets)
    401 customer_not_found       the token names a customer this merchant does not have
    400 meter_slug_required      a customer without a meter (Lava pairs them)
    400 meter_not_found          the token's meter slug is unknown
    403 meter_not_on_plan        the customer has no active plan, or its plan does not link the meter
    402 insufficient_balance     no plan credit left (checked before the provider is called)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from ...secret import Secret
from ...tokens import DecodedToken
from ...usage.base import Usage as ServedUsage
from ..contracts import Denial, Served, Settled
from ..store import Store
from ..webhooks import Delivery, envelope
from .admin import key_hash, keys_table, register_key
from .catalog import default_plan, meter_by_slug
from .charging import ZERO, Counts
from .customers import current_subscription
from .ids import new_id
from .ledger import Usage, enforce_cap, record
from .records import CheckoutSession, Customer, Meter, RequestRow
from .scope import Scope, open_scope, secrets_table

#: Merchants whose scope (typed tables) is kept ready; beyond it scopes are rebuilt on use.
_MAX_SCOPES = 1000


def counts(usage: ServedUsage) -> Counts:
    """Billing counts from what the provider reported; absent counts bill as zero."""
    return Counts(input_tokens=usage.input_tokens or 0, output_tokens=usage.output_tokens or 0,
                  input_characters=usage.input_characters or 0,
                  input_seconds=usage.audio_seconds or ZERO)


class LocalAccounts:
    """Implements ``contracts.Accounts``. Sync and single-threaded: call it from the loop thread.

    ``deliver`` receives each webhook delivery (``WebhookDispatcher.submit``); events raised by an
    operation go out only once it has committed (``flush_events``; the REST layer and ``settle``
    call it). ``auto_merchants`` accepts any well-formed ``aks_`` key by creating its merchant on
    first use, which suits a throwaway dev gateway.
    """

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time,
                 deliver: Callable[[Delivery], object] | None = None,
                 max_requests: int = 100_000, auto_merchants: bool = False) -> None:
        self.store = store
        self.clock = clock
        self._deliver = deliver
        self._max_requests = max_requests
        self._auto = auto_merchants
        self._keys = keys_table(store)
        self._checkout_secrets = secrets_table(store)
        self._scopes: dict[str, Scope] = {}
        self._pending: list[tuple[str, str, dict[str, object]]] = []
        self._inserted = 0

    # -- merchants and keys -------------------------------------------------------------

    def add_secret_key(self, secret_key: Secret, *, name: str = "default",
                       merchant_id: str | None = None) -> str:
        """Make ``secret_key`` valid (for a new merchant unless ``merchant_id`` is given) and
        return its merchant id. Idempotent: a known key returns its merchant."""
        known = self._keys.get(key_hash(secret_key.reveal()))
        if known is not None:
            return known.merchant_id
        now = self.clock()
        mid = merchant_id or new_id("mer", now)
        with self.store.transaction():
            register_key(self.store, mid, secret_key, name, now)
            default_plan(self.scope(mid))
        return mid

    def merchant_for(self, secret_key: str) -> str | None:
        row = self._keys.get(key_hash(secret_key))
        if row is not None:
            return row.merchant_id
        if self._auto and secret_key.startswith(("aks_test_", "aks_live_")) and (
                16 <= len(secret_key) <= 256):
            return self.add_secret_key(Secret(secret_key))
        return None

    def scope(self, merchant_id: str) -> Scope:
        s = self._scopes.get(merchant_id)
        if s is None:
            if len(self._scopes) >= _MAX_SCOPES:
                self._scopes.clear()
            s = self._scopes[merchant_id] = open_scope(
                self.store, merchant_id, self.clock,
                lambda event, data: self._pending.append((merchant_id, event, data)))
        return s

    def checkout_by_secret(self, secret: str) -> tuple[Scope, CheckoutSession] | None:
        """The hosted checkout page's lookup: the session a ``css_…`` secret opens, and the scope
        of the merchant it belongs to; ``None`` for a secret no session has."""
        entry = self._checkout_secrets.get(secret)
        if entry is None:
            return None
        scope = self.scope(entry.merchant_id)
        cs = scope.checkouts.get(entry.checkout_session_id)
        return None if cs is None else (scope, cs)

    # -- webhook events -----------------------------------------------------------------

    def flush_events(self) -> None:
        """Hand the events of committed operations to ``deliver``, one delivery per webhook."""
        pending, self._pending = self._pending, []
        if self._deliver is None:
            return
        for merchant_id, event, data in pending:
            body = envelope(event, data)
            for hook in self.scope(merchant_id).webhooks.scan():
                self._deliver(Delivery(hook.url, hook.secret, body, event))

    def discard_events(self) -> None:
        self._pending.clear()

    # -- the gateway seam ---------------------------------------------------------------

    def admit(self, token: DecodedToken) -> Denial | None:
        merchant_id = self.merchant_for(token.secret_key.reveal())
        if merchant_id is None:
            return Denial(401, "invalid_secret_key",
                          "Invalid secret key: check the Bearer token and the key it embeds")
        if token.format == "secrets_v5":
            return Denial(401, "unsupported_token_format",
                          "This forward token uses connection/product secrets; mint one with "
                          "customer_id and meter_slug")
        scope = self.scope(merchant_id)
        try:
            meter, customer = self._resolve(scope, token)
        except _Refused as exc:
            self.discard_events()
            return exc.denial
        denial = None if customer is None or meter is None else self._entitled(
            scope, customer, meter, charge=not token.disable_billing)
        self.flush_events()
        return denial

    def settle(self, token: DecodedToken, served: Served) -> Settled:
        merchant_id = self.merchant_for(token.secret_key.reveal())
        if merchant_id is None:
            return Settled(served.request_id, ZERO, ZERO)
        scope = self.scope(merchant_id)
        meter = None if token.meter_slug is None else meter_by_slug(scope, token.meter_slug)
        customer = (None if token.customer_id is None
                    else scope.customers.get(token.customer_id))
        usage = Usage(
            request_id=served.request_id, provider=served.provider, endpoint=served.endpoint,
            model=served.model or served.usage.model, response_id=served.response_id,
            counts=counts(served.usage), status=served.status,
            metadata=tuple(served.metadata.items()),
            timestamp=served.timestamp or scope.now(),
            provider_key_type="unmanaged" if token.provider_key is not None else "managed")
        try:
            row = record(scope, usage, meter=meter, customer=customer,
                         bill=not token.disable_billing)
            self._inserted += 1
            enforce_cap(scope, self._max_requests, self._inserted)
        except BaseException:
            self.discard_events()
            raise
        self.flush_events()
        return Settled(row.request_id, row.cost, row.charge)

    def report(self, merchant_id: str, usage: Usage, *, customer_id: str | None,
               meter_slug: str | None) -> RequestRow:
        """``POST /requests``: record usage measured elsewhere; charged, never enforced."""
        scope = self.scope(merchant_id)
        meter = None if meter_slug is None else meter_by_slug(scope, meter_slug)
        customer = None if customer_id is None else scope.customers.get(customer_id)
        row = record(scope, usage, meter=meter, customer=customer, bill=True)
        self._inserted += 1
        enforce_cap(scope, self._max_requests, self._inserted)
        return row

    def _resolve(self, scope: Scope, token: DecodedToken) -> tuple[Meter | None, Customer | None]:
        if token.customer_id is not None and token.meter_slug is None:
            raise _Refused(Denial(400, "meter_slug_required",
                                  "A forward token with customer_id also needs meter_slug"))
        meter = None
        if token.meter_slug is not None:
            meter = meter_by_slug(scope, token.meter_slug)
            if meter is None:
                raise _Refused(Denial(400, "meter_not_found",
                                      f"No meter with slug {token.meter_slug[:80]!r}"))
        customer = None
        if token.customer_id is not None:
            customer = scope.customers.get(token.customer_id)
            if customer is None:
                raise _Refused(Denial(401, "customer_not_found",
                                      f"No customer with id {token.customer_id[:80]!r}"))
        return meter, customer

    def _entitled(self, scope: Scope, customer: Customer, meter: Meter, *,
                  charge: bool) -> Denial | None:
        sub = current_subscription(scope, customer)
        plan = None if sub is None else scope.plans.get(sub.plan_id)
        if sub is None or plan is None or meter.meter_id not in plan.meter_ids:
            return Denial(403, "meter_not_on_plan",
                          f"Meter {meter.meter_slug!r} is not on the customer's active plan")
        if charge and sub.cycle_remaining + sub.bundle_remaining <= Decimal(0):
            return Denial(402, "insufficient_balance",
                          "Insufficient Balance: the customer has no plan credit left; "
                          "requests resume when credit is added")
        return None


class _Refused(Exception):
    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.message)
        self.denial = denial
