from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.emulator.target import TargetInvalid, parse_forward_query

CHAT = "https://api.openai.com/v1/chat/completions"


def test_percent_encoded() -> None:
    t = parse_forward_query("u=" + quote(CHAT, safe=""))
    assert (t.url, t.host, t.path, t.query) == (CHAT, "api.openai.com", "/v1/chat/completions", "")


def test_unencoded() -> None:
    assert parse_forward_query("u=" + CHAT).url == CHAT


def test_sdk_path_appended_after_unencoded_root() -> None:
    # base_url=".../forward?u=https://api.openai.com/v1" + the SDK's "/chat/completions".
    assert parse_forward_query("u=https://api.openai.com/v1/chat/completions").url == CHAT


def test_sdk_path_appended_after_encoded_root() -> None:
    raw = "u=" + quote("https://api.openai.com/v1", safe="") + "/chat/completions"
    assert parse_forward_query(raw).url == CHAT


def test_encoded_provider_query_is_kept() -> None:
    url = "https://api.anthropic.com/v1/models?limit=5&after_id=m_1"
    t = parse_forward_query("u=" + quote(url, safe=""))
    assert (t.url, t.path, t.query) == (url, "/v1/models", "limit=5&after_id=m_1")


def test_unencoded_provider_query_params_go_to_the_provider() -> None:
    t = parse_forward_query("u=https://api.anthropic.com/v1/models?limit=5&after_id=m_1")
    assert t.url == "https://api.anthropic.com/v1/models?limit=5&after_id=m_1"
    # An SDK adding its own params to a base URL that already has ?u=…
    t = parse_forward_query("u=https://api.anthropic.com/v1/models&limit=20")
    assert t.url == "https://api.anthropic.com/v1/models?limit=20"


def test_metadata_is_lavas_wherever_it_is() -> None:
    meta = quote('{"user_id":"u 1"}', safe="")
    for raw in (f"metadata={meta}&u={CHAT}", f"u={CHAT}&metadata={meta}"):
        t = parse_forward_query(raw)
        assert t.url == CHAT
        assert t.metadata == '{"user_id":"u 1"}'
    # URLSearchParams style: spaces as "+"
    assert parse_forward_query(f"u={CHAT}&metadata=%7B%22a%22%3A%22b+c%22%7D").metadata == \
        '{"a":"b c"}'


def test_clients_that_half_decode_the_value() -> None:
    # yarl (aiohttp) turns %3A%2F%2F back into :// but keeps %3F, %3D, %26 encoded.
    raw = "u=https://api.anthropic.com/v1/models%3Flimit%3D2%26after_id%3Dx"
    assert parse_forward_query(raw).url == "https://api.anthropic.com/v1/models?limit=2&after_id=x"


def test_characters_a_url_cannot_hold_are_escaped() -> None:
    raw = "u=" + quote("https://x.test/a b\n", safe="")
    assert parse_forward_query(raw).url == "https://x.test/a%20b%0A"


def test_endpoint_drops_the_query() -> None:
    assert parse_forward_query("u=https://x.test/v1/m?a=1").endpoint == "https://x.test/v1/m"


@pytest.mark.parametrize("raw", [
    "", "metadata=%7B%7D", "u=", "u=ftp%3A%2F%2Fx.test%2Ff", "u=%2Fv1%2Fchat",
    "u=https%3A%2F%2F%2Fno-host", "u=https://x.test:99999/",
    "u=https://x.test/" + "a" * 9000,
])
def test_refused(raw: str) -> None:
    with pytest.raises(TargetInvalid) as info:
        parse_forward_query(raw)
    assert info.value.status == 400


_segment = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF,
                                 blacklist_characters="/?#%"), min_size=1, max_size=12)


@given(host=st.from_regex(r"[a-z][a-z0-9-]{0,20}\.[a-z]{2,6}", fullmatch=True),
       segments=st.lists(_segment, min_size=1, max_size=5),
       params=st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                              st.from_regex(r"[A-Za-z0-9._~-]{0,10}", fullmatch=True),
                              max_size=4))
def test_any_encoded_url_round_trips(host: str, segments: list[str],
                                     params: dict[str, str]) -> None:
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = f"https://{host}{path}" + (f"?{query}" if query else "")
    t = parse_forward_query("u=" + quote(url, safe=""))
    assert (t.url, t.host, t.path, t.query) == (url, host, path, query)
