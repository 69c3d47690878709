"""The providers the sidecar knows without configuration: Lava's common OpenAI-compatible set,
Anthropic, and Google's native Gemini API.

Each maps an inbound prefix (what the app puts in its base URL, after the sidecar's address) to the
provider's real API root. ``inject_stream_usage`` is on only where the provider needs
``stream_options.include_usage`` to report streamed usage; the others report it unasked (seen in
the recorded traffic under ../shared/fixtures/recorded/genai), and some reject unknown fields.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from ..usage.base import Family


class BuiltinProvider(NamedTuple):
    base_url: str
    family: Family
    inject_stream_usage: bool
    #: The inbound prefix when it is not ``/<name>/v1``.
    prefix: str | None = None


BUILTIN_PROVIDERS: Final[dict[str, BuiltinProvider]] = {
    "openai": BuiltinProvider("https://api.openai.com/v1", "openai", True),
    "anthropic": BuiltinProvider("https://api.anthropic.com/v1", "anthropic", False),
    "openrouter": BuiltinProvider("https://openrouter.ai/api/v1", "openai", True),
    "groq": BuiltinProvider("https://api.groq.com/openai/v1", "openai", False),
    "mistral": BuiltinProvider("https://api.mistral.ai/v1", "openai", False),
    "deepseek": BuiltinProvider("https://api.deepseek.com/v1", "openai", False),
    "xai": BuiltinProvider("https://api.x.ai/v1", "openai", False),
    "together": BuiltinProvider("https://api.together.xyz/v1", "openai", False),
    "fireworks": BuiltinProvider("https://api.fireworks.ai/inference/v1", "openai", False),
    "cerebras": BuiltinProvider("https://api.cerebras.ai/v1", "openai", False),
    "deepinfra": BuiltinProvider("https://api.deepinfra.com/v1/openai", "openai", False),
    "google": BuiltinProvider("https://generativelanguage.googleapis.com/v1beta/openai", "openai", False),
    "moonshot": BuiltinProvider("https://api.moonshot.ai/v1", "openai", False),
    "sambanova": BuiltinProvider("https://api.sambanova.ai/v1", "openai", False),
    # Google's native API: the SDKs put the version in the path (/v1beta/…, /v1/… from google-genai
    # with a base URL set, /v1alpha/…), so the root is the host and the prefix has no /v1.
    "gemini": BuiltinProvider("https://generativelanguage.googleapis.com", "gemini", False, "/gemini"),
}

#: Inbound prefix for a provider: ``/<name>/v1`` unless the built-in table says otherwise. The
#: default provider also answers on ``/v1``.
def prefix_for(name: str) -> str:
    builtin = BUILTIN_PROVIDERS.get(name)
    return builtin.prefix if builtin is not None and builtin.prefix else f"/{name}/v1"
