"""Settings load from YAML + env, and every problem is reported at once with its key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from proxy.config import load_settings
from proxy.errors import ConfigError

from .conftest import TEST_SECRET

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str, **env: str) -> object:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    return load_settings(cfg, env)


def _problems(tmp_path: Path, text: str, **env: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text, **env)
    return {p.key: p.message for p in info.value.problems}


def test_shipped_default_config_needs_only_the_secret_key() -> None:
    s = load_settings(REPO / "config" / "sidecar.yaml", {"LAVA_SECRET_KEY": TEST_SECRET})
    assert s.secret_key.reveal() == TEST_SECRET
    assert (str(s.listen), str(s.admin_listen)) == ("127.0.0.1:8787", "0.0.0.0:9464")
    assert s.gateway.url == "https://api.lava.so"
    names = {p.name for p in s.providers}
    assert {"openai", "anthropic", "groq", "mistral", "deepseek", "xai", "together", "fireworks"} <= names


def test_no_file_no_key_is_one_clear_problem() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {})
    assert [p.key for p in info.value.problems] == ["secret_key"]
    assert "LAVA_SECRET_KEY" in info.value.problems[0].message


def test_env_overrides(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(TEST_SECRET + "\n")
    s = load_settings(None, {"LAVA_SECRET_KEY_FILE": str(key_file),
                             "LAVA_GATEWAY_URL": "http://127.0.0.1:9/"})
    assert s.secret_key.reveal() == TEST_SECRET
    assert s.gateway.url == "http://127.0.0.1:9"


def test_config_path_from_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("listen: 127.0.0.1:9999\n")
    s = load_settings(None, {"LAVA_SIDECAR_CONFIG": str(cfg), "LAVA_SECRET_KEY": TEST_SECRET})
    assert s.listen.port == 9999


def test_every_problem_reported_with_its_key(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """
listen: nope
secret_key: aks_live_inline_value
gateway: {url: "ftp://x", connect_timeout_seconds: -1, bogus: 1, max_connections: "many"}
identity: {unattributed: maybe, default_customer: "bad id!", customer_header: "bad header"}
providers: {local: {family: openai}, openai: {base_url: "https://h/v1?x=1"}}
metadata: {static: {"bad key": "v"}}
meters: [{slug: m, tiers: [{start: 5, rate: "1"}]}]
usage_log: {on_error: explode}
typo_section: 1
""")
    assert set(problems) == {
        "listen", "secret_key", "gateway.url", "gateway.connect_timeout_seconds", "gateway.bogus",
        "gateway.max_connections", "identity.unattributed", "identity.default_customer",
        "identity.customer_header", "providers.local.base_url", "providers.openai.base_url",
        "metadata.static", "meters[0].tiers", "usage_log.on_error", "typo_section",
    }
    assert "aks_live_inline_value" not in " ".join(problems.values())


def test_secret_refs(tmp_path: Path) -> None:
    s = _load(tmp_path, "secret_key: {env: MY_KEY}\nproviders: {anthropic: {provider_key: {env: AK}}}\n",
              MY_KEY=TEST_SECRET, AK="sk-ant-x")
    assert s.secret_key.reveal() == TEST_SECRET  # type: ignore[attr-defined]
    anthropic = s.provider("anthropic")  # type: ignore[attr-defined]
    assert anthropic.provider_key.reveal() == "sk-ant-x"
    problems = _problems(tmp_path, "secret_key: {env: MISSING_VAR}\n")
    assert "MISSING_VAR" in problems["secret_key"]
    problems = _problems(tmp_path, "secret_key: {file: /nonexistent/key}\n")
    assert "cannot read" in problems["secret_key"]


def test_custom_provider_and_prefix_collision(tmp_path: Path) -> None:
    s = _load(tmp_path, "providers: {vllm: {base_url: 'http://10.0.0.1:8000/v1/', family: openai}}\n",
              LAVA_SECRET_KEY=TEST_SECRET)
    vllm = s.provider("vllm")  # type: ignore[attr-defined]
    assert (vllm.base_url, vllm.prefix, vllm.family) == ("http://10.0.0.1:8000/v1", "/vllm/v1", "openai")
    problems = _problems(tmp_path, "providers: {a: {base_url: 'http://a', prefix: /openai/v1}}\n",
                         LAVA_SECRET_KEY=TEST_SECRET)
    assert any("already used" in m for m in problems.values())


def test_identity_bindings_and_meters(tmp_path: Path) -> None:
    s = _load(tmp_path, """
identity:
  default_customer: cus_1
  default_meter: m1
  api_keys: [{key: {env: TEAM_KEY}, customer: cus_team, meter: m2}]
meters: [{slug: m1, tier_type: tokens_1m, tiers: [{start: 0, rate: "5"}, {start: 1000000, rate: "3.00"}]}]
""", LAVA_SECRET_KEY=TEST_SECRET, TEAM_KEY="sk-local-team")
    ident = s.identity  # type: ignore[attr-defined]
    assert ident.api_keys[0].key.reveal() == "sk-local-team"
    assert [t.rate for t in s.meters[0].tiers] == [Decimal("5"), Decimal("3.00")]  # type: ignore[attr-defined]
    problems = _problems(tmp_path, "identity: {default_customer: c}\n", LAVA_SECRET_KEY=TEST_SECRET)
    assert "identity.default_meter" in problems


def test_pinned_prices_are_bounded_like_lavas(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """
meters:
  - {slug: a, tiers: [{start: 0, rate: "9e999999"}]}
  - {slug: b, tiers: [{start: 0, rate: .nan}]}
  - {slug: c, tiers: [{start: 0, rate: "1"}, {start: 0, rate: "2"}]}
""", LAVA_SECRET_KEY=TEST_SECRET)
    assert "rate is above 1,000,000" in problems["meters[0].tiers"]
    assert "not a finite number" in problems["meters[1].tiers"]
    assert "tier starts must ascend" in problems["meters[2].tiers"]


def test_usage_log_retention_and_the_totals_cap(tmp_path: Path) -> None:
    s = _load(tmp_path, "usage_log: {min_retention_seconds: 0}\nusage_totals: {max_customers: 5}\n",
              LAVA_SECRET_KEY=TEST_SECRET)
    assert (s.usage_log.min_retention, s.usage_totals.max_customers) == (0, 5)  # type: ignore[attr-defined]
    default = _load(tmp_path, "", LAVA_SECRET_KEY=TEST_SECRET)
    assert default.usage_log.min_retention == 86_400  # type: ignore[attr-defined]
    assert default.usage_totals.max_customers == 100_000  # type: ignore[attr-defined]
    problems = _problems(tmp_path, "usage_log: {min_retention_seconds: -1}\n"
                                   "usage_totals: {max_customers: 0, page: 3}\n",
                         LAVA_SECRET_KEY=TEST_SECRET)
    assert set(problems) == {"usage_log.min_retention_seconds", "usage_totals.max_customers",
                             "usage_totals.page"}


def test_cli_overrides_are_validated(tmp_path: Path) -> None:
    s = load_settings(None, {"LAVA_SECRET_KEY": TEST_SECRET}, overrides={"listen": "127.0.0.1:1234"})
    assert s.listen.port == 1234
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"LAVA_SECRET_KEY": TEST_SECRET}, overrides={"admin_listen": "x"})
    assert info.value.problems[0].key == "--admin-listen"


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml", {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, {})


def test_env_gateway_url_overrides_the_file_without_calling_its_key_unknown(tmp_path: Path) -> None:
    s = _load(tmp_path, "gateway: {url: 'https://api.lava.so'}\n", LAVA_SECRET_KEY=TEST_SECRET,
              LAVA_GATEWAY_URL="http://127.0.0.1:8788")
    assert s.gateway.url == "http://127.0.0.1:8788"  # type: ignore[attr-defined]
