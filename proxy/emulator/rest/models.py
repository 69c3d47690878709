"""``GET /v1/models``: the models the local gateway's mock providers answer for, in the OpenAI
list shape Lava documents (lava-api.md 1.2; the Node SDK's ``models.list``)."""

from __future__ import annotations

from ..providers import GENERIC_MODELS
from ..providers.anthropic import MODELS as ANTHROPIC_MODELS
from ..providers.openai_misc import CREATED, OPENAI_MODELS
from .context import Ctx, Route


def list_models(ctx: Ctx) -> object:
    owned = ([(m, "openai") for m in OPENAI_MODELS]
             + [(m, "anthropic") for m, _ in ANTHROPIC_MODELS]
             + [(m, "lava") for m in GENERIC_MODELS])
    return {"object": "list", "data": [{"id": m, "object": "model", "created": CREATED,
                                        "owned_by": owner} for m, owner in owned]}


ROUTES: tuple[Route, ...] = (("GET", "/models", list_models),)
