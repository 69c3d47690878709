"""The tool logic's own rules, on plain values: paths that may not leave the provider, what is
shown of the key, who a call bills."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.config import load_settings
from proxy.mcp.config import McpSettings
from proxy.mcp.tools import Bound, SidecarLink, ToolFailure, Tools, check_path, key_facts

from ..conftest import TEST_SECRET

BASE = "https://api.openai.com/v1"


@pytest.mark.parametrize("path", ["/embeddings", "/responses", "/messages", "/models/gpt-4o",
                                  "/files?purpose=batch", "/vector_stores/vs_1/files", "/models/a:b"])
def test_plain_provider_paths_pass(path: str) -> None:
    assert check_path(path) == path


@given(st.text(alphabet="/.%2e5cfABx?:@\\&=-_~ \r\n\t#", max_size=40) | st.text(max_size=40))
def test_no_accepted_path_leaves_the_provider(path: str) -> None:
    """Whatever is accepted, joined under the provider's root, names the same host below that root,
    with no dot segments for a server to resolve."""
    try:
        check_path(path)
    except ToolFailure as exc:
        refused = (exc.status, exc.code)
    else:
        refused = None
    if refused is not None:
        assert refused == (400, "path_invalid")
        return
    url = httpx.URL(BASE + path)
    assert url.host == "api.openai.com"
    assert url.path.startswith("/v1/")
    assert ".." not in url.path.split("/")
    assert "." not in url.path.split("/")


@pytest.mark.parametrize("path", ["/embeddings\n", "/models\r", "/models\x00", "/a b", "/\u00e9"])
def test_control_characters_and_trailing_newlines_are_refused(path: str) -> None:
    with pytest.raises(ToolFailure):
        check_path(path)


def test_the_key_is_shown_as_its_type_and_last_four() -> None:
    assert key_facts("aks_live_abcdefghijklmnop1234") == ("live", "1234")
    assert key_facts(TEST_SECRET) == ("test", TEST_SECRET[-4:])
    assert key_facts("short") == ("unknown", "????")


def _tools(**mcp: bool) -> Tools:
    settings = load_settings(None, {"LAVA_SECRET_KEY": TEST_SECRET})
    return Tools(settings, McpSettings(**mcp), SidecarLink("http://127.0.0.1:1", None, True),
                 None, None, customer="cus_bound", meter="chat")  # type: ignore[arg-type]


def test_who_pays() -> None:
    tools = _tools()
    assert tools.bind() == Bound("cus_bound", "chat")
    # Over HTTP the request's headers name the customer, as they do for the proxy.
    assert tools.bind({"X-Lava-Customer-Id": "cus_h", "X-Lava-Meter": "m2"}) == Bound("cus_h", "m2")
    with pytest.raises(ToolFailure) as info:
        tools.bind(customer="cus_other")
    assert (info.value.status, info.value.code) == (403, "customer_argument_refused")
    assert _tools(allow_customer_argument=True).bind(customer="cus_other") == Bound("cus_other", "chat")
    with pytest.raises(ToolFailure) as info:
        _tools(allow_customer_argument=True).bind(customer="bad id")
    assert (info.value.status, info.value.code) == (400, "customer_id_invalid")


def test_unbound_server_says_how_to_bind() -> None:
    settings = load_settings(None, {"LAVA_SECRET_KEY": TEST_SECRET})
    tools = Tools(settings, McpSettings(), SidecarLink("http://127.0.0.1:1", None, True),
                  None, None)  # type: ignore[arg-type]
    with pytest.raises(ToolFailure) as info:
        tools.bind()
    assert (info.value.status, info.value.code) == (401, "customer_missing")
    assert "--customer" in info.value.message


def test_a_tool_error_never_carries_a_key_or_token() -> None:
    failure = ToolFailure(401, "upstream_error",
                          f"Incorrect API key provided: {TEST_SECRET} (Bearer abcdefgh12345)")
    assert TEST_SECRET not in str(failure)
    assert "abcdefgh12345" not in str(failure)
    assert str(failure).startswith("401 upstream_error: Incorrect API key provided: [redacted]")
