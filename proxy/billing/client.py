"""``LavaClient`` (sync) and ``AsyncLavaClient``: one set of resource namespaces, written once.

Every operation is a function building a ``Call`` (``ops_*``); a namespace lists them as ``Op`` /
``Pages`` descriptors; the descriptor binds to the namespace's runner, which decides whether the
call is made with ``httpx.Client`` (returns ``T``) or ``httpx.AsyncClient`` (returns an awaitable).
Typed both ways through the descriptors' overloads.

    with LavaClient() as lava:                  # LAVA_SECRET_KEY, LAVA_GATEWAY_URL
        meter = lava.meters.create(name="Chat", rate="3.00")
        for m in lava.meters.iter(): ...
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Self

import httpx

from ..secret import Secret
from . import ops_catalog as cat
from . import ops_customers as cus
from . import ops_reports as rep
from .binding import AsyncRunner, Namespace, Op, Pages, R, SyncRunner
from .core import settings


class Meters(Namespace[R]):
    create = Op(cat.create_meter)
    list = Op(cat.list_meters)
    iter = Pages(cat.list_meters)
    #: Every meter's JSON document, unparsed (``prices.convert`` reads them one by one).
    iter_documents = Pages(cat.list_meter_documents)
    get = Op(cat.get_meter)
    update = Op(cat.update_meter)
    delete = Op(cat.delete_meter)


class Plans(Namespace[R]):
    create = Op(cat.create_plan)
    list = Op(cat.list_plans)
    iter = Pages(cat.list_plans)
    get = Op(cat.get_plan)
    update = Op(cat.update_plan)
    delete = Op(cat.delete_plan)


class CreditBundles(Namespace[R]):
    list = Op(cat.list_credit_bundles)
    iter = Pages(cat.list_credit_bundles)
    get = Op(cat.get_credit_bundle)


class Customers(Namespace[R]):
    create = Op(cus.create_customer)
    list = Op(cus.list_customers)
    iter = Pages(cus.list_customers)
    get = Op(cus.get_customer)
    update = Op(cus.update_customer)
    delete = Op(cus.delete_customer)
    subscription = Op(cus.customer_subscription)


class CheckoutSessions(Namespace[R]):
    create = Op(cus.create_checkout_session)
    get = Op(cus.get_checkout_session)
    #: EMULATOR ONLY: completes a session as the hosted checkout would (404 on real Lava).
    complete_local = Op(cus.complete_checkout_session_local)


class Subscriptions(Namespace[R]):
    list = Op(cus.list_subscriptions)
    iter = Pages(cus.list_subscriptions)
    create = Op(cus.create_subscription)
    update = Op(cus.update_subscription)
    cancel = Op(cus.cancel_subscription)


class Usage(Namespace[R]):
    get = Op(rep.get_usage)


class Requests(Namespace[R]):
    list = Op(rep.list_requests)
    iter = Pages(rep.list_requests)
    get = Op(rep.get_request)
    report = Op(rep.report_request)


class Webhooks(Namespace[R]):
    create = Op(rep.create_webhook)
    list = Op(rep.list_webhooks)
    get = Op(rep.get_webhook)
    update = Op(rep.update_webhook)
    delete = Op(rep.delete_webhook)


class SecretKeys(Namespace[R]):
    create = Op(rep.create_secret_key)
    list = Op(rep.list_secret_keys)
    delete = Op(rep.delete_secret_key)


class _Resources(Generic[R]):
    """The namespaces both clients expose, built once from a runner."""

    def _mount(self, runner: R) -> None:
        self.meters: Meters[R] = Meters(runner)
        self.plans: Plans[R] = Plans(runner)
        self.credit_bundles: CreditBundles[R] = CreditBundles(runner)
        self.customers: Customers[R] = Customers(runner)
        self.checkout_sessions: CheckoutSessions[R] = CheckoutSessions(runner)
        self.subscriptions: Subscriptions[R] = Subscriptions(runner)
        self.usage: Usage[R] = Usage(runner)
        self.requests: Requests[R] = Requests(runner)
        self.webhooks: Webhooks[R] = Webhooks(runner)
        self.secret_keys: SecretKeys[R] = SecretKeys(runner)


class LavaClient(_Resources[SyncRunner]):
    """Lava's REST API over ``httpx.Client``. Arguments override ``LAVA_GATEWAY_URL`` and
    ``LAVA_SECRET_KEY``; ``timeout`` is seconds (or an ``httpx.Timeout``)."""

    def __init__(self, *, base_url: str | None = None, secret_key: Secret | str | None = None,
                 timeout: float | httpx.Timeout | None = None,
                 http: httpx.Client | None = None) -> None:
        self.settings = settings(base_url, secret_key, timeout)
        self._own = http is None
        self._http = http or httpx.Client(timeout=self.settings.timeout)
        self._mount(SyncRunner(self.settings, self._http))

    def close(self) -> None:
        if self._own:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LavaClient({self.settings.base_url!r}, key={self.settings.secret_key.hint()!r})"


class AsyncLavaClient(_Resources[AsyncRunner]):
    """Lava's REST API over ``httpx.AsyncClient``; the same namespaces, awaited."""

    def __init__(self, *, base_url: str | None = None, secret_key: Secret | str | None = None,
                 timeout: float | httpx.Timeout | None = None,
                 http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings(base_url, secret_key, timeout)
        self._own = http is None
        self._http = http or httpx.AsyncClient(timeout=self.settings.timeout)
        self._mount(AsyncRunner(self.settings, self._http))

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (f"AsyncLavaClient({self.settings.base_url!r}, "
                f"key={self.settings.secret_key.hint()!r})")
