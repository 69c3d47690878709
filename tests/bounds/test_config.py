"""The ``limits.*`` keys of ``proxy.bounds``: defaults, values, every problem with its dotted key,
and check-config reporting them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxy.bounds import ClientBounds
from proxy.config import load_settings
from proxy.errors import ConfigError

from ..conftest import TEST_SECRET

REPO = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str) -> ClientBounds:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    return load_settings(cfg, {"LAVA_SECRET_KEY": TEST_SECRET}).bounds


def _problems(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    return {p.key: p.message for p in info.value.problems}


def test_defaults_and_the_shipped_file_agree() -> None:
    shipped = load_settings(REPO / "config" / "sidecar.yaml", {"LAVA_SECRET_KEY": TEST_SECRET}).bounds
    assert shipped == ClientBounds()
    assert (shipped.header_timeout, shipped.body_idle_timeout, shipped.max_buffered_body_bytes) == \
        (10.0, 30.0, 256 * 1024 * 1024)


def test_values(tmp_path: Path) -> None:
    b = _load(tmp_path, "limits: {header_timeout_seconds: 2, body_idle_timeout_seconds: 0.5, "
                        "max_buffered_body_bytes: 67108864, max_body_bytes: 1048576}\n")
    assert (b.header_timeout, b.body_idle_timeout, b.max_buffered_body_bytes) == (2.0, 0.5, 64 << 20)


def test_every_problem_with_its_key(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """
limits:
  header_timeout_seconds: 0
  body_idle_timeout_seconds: 86400
  max_buffered_body_bytes: 1000
  header_timeout: 5
""")
    assert set(problems) == {"limits.header_timeout_seconds", "limits.body_idle_timeout_seconds",
                             "limits.max_buffered_body_bytes", "limits.header_timeout"}
    assert "limits.max_body_bytes" in problems["limits.max_buffered_body_bytes"]
    assert "unknown key" in problems["limits.header_timeout"]
    problems = _problems(tmp_path, "limits: {header_timeout_seconds: soon, max_buffered_body_bytes: 1.5}\n")
    assert set(problems) == {"limits.header_timeout_seconds", "limits.max_buffered_body_bytes"}


def test_check_config_reports_them(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("limits: {body_idle_timeout_seconds: -1, max_buffered_body_bytes: 10}\n")
    exe = Path(sys.executable).with_name("lava-sidecar")
    res = subprocess.run([str(exe), "check-config", "--config", str(bad)], capture_output=True,
                         text=True, env={"LAVA_SECRET_KEY": TEST_SECRET, "PATH": "/usr/bin:/bin"},
                         check=False)
    assert res.returncode == 1
    for key in ("limits.body_idle_timeout_seconds:", "limits.max_buffered_body_bytes:",
                "2 configuration problems:"):
        assert key in res.stderr
