"""What an admission reserves on the token and spend windows, estimated before the request leaves.

Tokens: the prompt's text characters / 4 (``usage.estimate.ask``) plus the output cap the request
names (``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``, Gemini's
``generationConfig.maxOutputTokens``) or, for an API that generates output and names none,
``quotas.default_output_tokens``. Spend: the meter's price for
those tokens at the customer's tier position (``Pricing.quote``), rounded up to a micro-dollar.
A meter without a fixed price (unpriced, or a percentage of the provider's cost, which is known
only afterwards) reserves no spend; the log says so once per meter. Completion replaces the
reservation with the real amounts, so an estimate's error lasts only while its request runs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from ..usage.base import Api
from ..usage.estimate import ask
from .policy import Checks, to_micro_usd

if TYPE_CHECKING:
    from ..metering.pricing import Pricing
    from ..pipeline.context import RequestContext

log = logging.getLogger("lava_sidecar.quotas")

#: APIs whose answer is generated text: without a cap, they reserve the configured default.
_GENERATES: Final = frozenset({Api.CHAT, Api.COMPLETIONS, Api.RESPONSES, Api.MESSAGES,
                               Api.GENERATE_CONTENT})
#: Meters named in the "reserves no spend" log line; past it no more lines (bounded).
_TOLD_MAX: Final = 1000


class Estimator:
    __slots__ = ("_default_output", "_pricing", "_told")

    def __init__(self, pricing: Pricing | None, default_output_tokens: int) -> None:
        self._pricing = pricing
        self._default_output = default_output_tokens
        self._told: set[str] = set()

    def reserve(self, ctx: RequestContext, checks: Checks) -> tuple[int, int]:
        """(tokens, micro-dollars) to reserve for this request under ``checks``."""
        facts = ctx.facts
        want = ask(facts, ctx.request_body)
        out = want.max_output_tokens
        if out is None:
            out = self._default_output if facts.api in _GENERATES else 0
        tokens = want.input_tokens + out
        if not checks.spends:
            return tokens, 0
        meter = ctx.meter_slug
        quote = self._pricing.quote(ctx.customer_id, meter, tokens, facts.input_characters) \
            if self._pricing is not None else None
        if quote is None:
            self._unpriced(meter)
            return tokens, 0
        return tokens, to_micro_usd(quote) if quote > 0 else 0

    def _unpriced(self, meter: str | None) -> None:
        name = meter or "(none)"
        if name in self._told or len(self._told) >= _TOLD_MAX:
            return
        self._told.add(name)
        log.warning("meter %s has no fixed price the sidecar knows: its requests reserve no spend at "
                    "admission, so concurrent requests can pass a usd_per_day limit together (their "
                    "charge still counts when known; docs/quotas.md#reservations)", name)
