"""Mock providers behind the gateway, chosen by the target host: OpenAI (``api.openai.com``),
Anthropic (``api.anthropic.com``), Gemini (``generativelanguage.googleapis.com``, its native API;
the OpenAI-compatible ``…/v1beta/openai/`` below it is the generic mock), and a generic
OpenAI-compatible mock for every other host.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote

from ...errors import Shape
from ...usage.base import Api, RequestFacts
from ...usage.gemini import path_facts
from ..extract import facts_for
from ..reply import Reply
from . import anthropic, gemini, openai_audio, openai_chat, openai_misc, openai_responses
from .common import MockRequest, Pacing, error_reply

__all__ = ["MockRequest", "Pacing", "api_of", "fault_reply", "mock_reply", "provider_name",
           "request_facts", "shape_of"]

OPENAI_HOST: Final = "api.openai.com"
ANTHROPIC_HOST: Final = "api.anthropic.com"
GENERIC_MODELS: Final = ("llama-3.3-70b-versatile", "mistral-small-latest", "deepseek-chat",
                         "qwen3-32b")
_OPENAI_SUFFIXES: Final = (
    ("/chat/completions", Api.CHAT), ("/completions", Api.COMPLETIONS),
    ("/embeddings", Api.EMBEDDINGS), ("/responses", Api.RESPONSES),
    ("/audio/transcriptions", Api.AUDIO_TRANSCRIPTION),
    ("/audio/translations", Api.AUDIO_TRANSLATION), ("/audio/speech", Api.AUDIO_SPEECH),
    ("/moderations", Api.MODERATIONS), ("/models", Api.MODELS),
)
_ANTHROPIC_PATHS: Final = {"/v1/messages": Api.MESSAGES,
                           "/v1/messages/count_tokens": Api.COUNT_TOKENS, "/v1/models": Api.MODELS}


def _native_gemini(host: str, path: str) -> bool:
    return host == gemini.HOST and "/openai/" not in path


def shape_of(host: str, path: str = "") -> Shape:
    if host == ANTHROPIC_HOST:
        return "anthropic"
    return "gemini" if _native_gemini(host, path) else "openai"


def provider_name(host: str) -> str:
    """What Lava records as a request's provider: ``openai``, ``anthropic``, ``gemini`` or the host."""
    return {OPENAI_HOST: "openai", ANTHROPIC_HOST: "anthropic", gemini.HOST: "gemini"}.get(host, host)


def api_of(host: str, path: str) -> Api:
    if _native_gemini(host, path):
        return path_facts(path).api
    path = path.rstrip("/")
    if shape_of(host) == "anthropic":
        if path.startswith("/v1/models/"):
            return Api.MODELS
        return _ANTHROPIC_PATHS.get(path, Api.OTHER)
    if "/models/" in path:  # first: model ids may end like an API path (org/…/completions)
        return Api.MODELS
    for end, api in _OPENAI_SUFFIXES:
        if path.endswith(end):
            return api
    if "/images/" in path:
        return Api.IMAGES
    return Api.OTHER


def request_facts(host: str, path: str, doc: object) -> RequestFacts:
    """What the forwarded request asks for, as an extractor needs it: Gemini's path names the model
    and the method; every other API says it in the body."""
    if _native_gemini(host, path):
        return path_facts(path)
    return facts_for(api_of(host, path), doc)


def _model_id(path: str) -> str | None:
    """The id after ``/models/``; ids may hold slashes (``groq/compound``), escaped or not."""
    _, sep, rest = path.rstrip("/").partition("/models/")
    return unquote(rest) if sep and rest else None


def mock_reply(req: MockRequest) -> Reply:
    host, path, method = req.target.host, req.target.path, req.method
    if _native_gemini(host, path):
        return gemini.reply(req)
    api = api_of(host, path)
    shape = shape_of(host)
    wanted = "GET" if api is Api.MODELS else "POST"
    if method != wanted or api in (Api.OTHER, Api.IMAGES, Api.MODERATIONS):
        return error_reply(req, shape, 404, f"Invalid URL ({method} {path[:200]})",
                           "not_found_error" if shape == "anthropic" else "invalid_url")
    if shape == "anthropic":
        if api is Api.MESSAGES:
            return anthropic.messages(req)
        if api is Api.COUNT_TOKENS:
            return anthropic.count_tokens(req)
        return anthropic.models(req, _model_id(path))
    generic = host != OPENAI_HOST
    if api is Api.CHAT:
        return openai_chat.chat(req, usage_always=generic)
    if api is Api.COMPLETIONS:
        return openai_chat.completions(req)
    if api is Api.EMBEDDINGS:
        return openai_misc.embeddings(req)
    if api is Api.RESPONSES:
        return openai_responses.responses(req)
    if api is Api.AUDIO_TRANSCRIPTION:
        return openai_audio.transcription(req)
    if api is Api.AUDIO_TRANSLATION:
        return openai_audio.transcription(req, translate=True)
    if api is Api.AUDIO_SPEECH:
        return openai_audio.speech(req)
    if generic:
        return openai_misc.models(req, _model_id(path), owner=host, known=GENERIC_MODELS,
                                  strict=False)
    return openai_misc.models(req, _model_id(path))


def fault_reply(req: MockRequest, status: int, *, empty: bool) -> Reply:
    """The provider-shaped error a ``status=<code>`` fault answers with."""
    if _native_gemini(req.target.host, req.target.path) and not empty:
        return gemini.error(req, status, f"Emulated provider error (x-emulator-fault: status={status}).")
    return error_reply(req, shape_of(req.target.host), status,
                       f"Emulated provider error (x-emulator-fault: status={status}).",
                       empty=empty)
