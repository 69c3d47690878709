"""The ``quotas:`` section through the real loader: the issue's YAML, and every problem with its key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from proxy.config import load_settings
from proxy.errors import ConfigError
from proxy.quotas.config import QuotaLimits, QuotaSettings

from ..conftest import TEST_SECRET

ISSUE_YAML = """
quotas:
  backend: redis
  redis:
    url: {env: REDIS_URL}
    key_prefix: "lava-sidecar:"
    timeout_ms: 50
  on_backend_error: allow
  default:
    requests_per_minute: 600
    tokens_per_minute: 200000
    concurrent_requests: 20
    usd_per_day: "25.00"
  customers:
    cus_enterprise: {requests_per_minute: 6000, usd_per_day: null}
  meters:
    image-gen: {requests_per_minute: 10}
"""


def load(tmp_path: Path, text: str, **env: str) -> QuotaSettings:
    path = tmp_path / "sidecar.yaml"
    path.write_text(text)
    return load_settings(path, {"LAVA_SECRET_KEY": TEST_SECRET, **env}).quotas


def problems(tmp_path: Path, text: str, **env: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, **env)
    return {p.key: p.message for p in info.value.problems}


def test_the_issue_yaml_parses(tmp_path: Path) -> None:
    q = load(tmp_path, ISSUE_YAML, REDIS_URL="redis://:pw@127.0.0.1:6379/0")
    assert q.backend == "redis"
    assert q.redis.url is not None
    assert q.redis.url.reveal() == "redis://:pw@127.0.0.1:6379/0"
    assert "pw" not in repr(q)
    assert (q.redis.key_prefix, q.redis.timeout_ms, q.on_backend_error) == ("lava-sidecar:", 50, "allow")
    assert q.default == QuotaLimits(600, 200000, 20, Decimal("25.00"))
    # A customer names only what it overrides; null lifts a limit.
    assert dict(q.customers)["cus_enterprise"] == QuotaLimits(6000, 200000, 20, None)
    assert dict(q.meters)["image-gen"] == QuotaLimits(requests_per_minute=10)


def test_no_section_means_no_limits(tmp_path: Path) -> None:
    q = load(tmp_path, "listen: 127.0.0.1:8787\n")
    assert q == QuotaSettings()
    assert not q.enabled()


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    found = problems(tmp_path, """
quotas:
  backend: etcd
  redis: {url: "redis://:hunter2@h:6379", key_prefix: "a{b}", timeout_ms: 0, db: 3}
  on_backend_error: maybe
  default: {requests_per_minute: lots, tokens_per_minute: -5, usd_per_day: "abc", rpm: 1}
  customers:
    "bad id!": {requests_per_minute: 1}
    cus_ok: {concurrent_requests: 2.5, usd_per_day: 3.5}
  meters:
    "img:gen": {requests_per_minute: 1}
    image-gen: {usd_per_day: "-1"}
  typo: 1
""")
    assert set(found) == {
        "quotas.backend", "quotas.redis.url", "quotas.redis.key_prefix", "quotas.redis.timeout_ms",
        "quotas.redis.db", "quotas.on_backend_error", "quotas.default.requests_per_minute",
        "quotas.default.tokens_per_minute", "quotas.default.usd_per_day", "quotas.default.rpm",
        "quotas.customers.bad id!", "quotas.customers.cus_ok.concurrent_requests",
        "quotas.customers.cus_ok.usd_per_day", "quotas.meters.img:gen",
        "quotas.meters.image-gen.usd_per_day", "quotas.typo",
    }
    # The inline URL is refused without being echoed (it may carry a password).
    assert "hunter2" not in " ".join(found.values())


def test_redis_backend_needs_a_url_and_a_redis_scheme(tmp_path: Path) -> None:
    assert "required" in problems(tmp_path, "quotas: {backend: redis}\n")["quotas.redis.url"]
    msg = problems(tmp_path, "quotas: {backend: redis, redis: {url: {env: R}}}\n", R="http://h")
    assert "redis://" in msg["quotas.redis.url"]
    assert "R is not set" in problems(tmp_path, "quotas: {backend: redis, redis: {url: {env: R}}}\n")[
        "quotas.redis.url"]
    # The memory backend ignores an unset URL variable.
    assert load(tmp_path, "quotas: {redis: {url: {env: R}}}\n").backend == "memory"


def test_a_cluster_and_the_output_reservation(tmp_path: Path) -> None:
    q = load(tmp_path, """
quotas:
  backend: redis
  redis: {url: {env: REDIS_URL}, cluster: true}
  default_output_tokens: 256
  default: {tokens_per_minute: 1000}
""", REDIS_URL="redis://127.0.0.1:7000")
    assert q.redis.cluster is True
    assert q.default_output_tokens == 256
    assert QuotaSettings().default_output_tokens == 1024
    found = problems(tmp_path, "quotas: {redis: {cluster: yes please}, default_output_tokens: -1}\n")
    assert set(found) == {"quotas.redis.cluster", "quotas.default_output_tokens"}
