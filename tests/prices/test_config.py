"""The ``pricing:`` section through the real loader and ``check-config``: defaults, values, and every
problem with its dotted key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proxy.config import load_settings
from proxy.errors import ConfigError
from proxy.prices import PricingSettings

from ..conftest import TEST_SECRET

REPO = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, text: str) -> PricingSettings:
    path = tmp_path / "sidecar.yaml"
    path.write_text(text)
    return load_settings(path, {"LAVA_SECRET_KEY": TEST_SECRET}).pricing


def test_defaults_list_prices_from_lava_every_five_minutes(tmp_path: Path) -> None:
    assert load(tmp_path, "listen: 127.0.0.1:8787\n") == PricingSettings(True, 300.0, 30.0)
    shipped = load_settings(REPO / "config" / "sidecar.yaml", {"LAVA_SECRET_KEY": TEST_SECRET})
    assert shipped.pricing == PricingSettings()


def test_values(tmp_path: Path) -> None:
    got = load(tmp_path, "pricing: {from_lava: false, refresh_seconds: 60, timeout_seconds: 2.5}\n")
    assert got == PricingSettings(False, 60.0, 2.5)


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "sidecar.yaml"
    path.write_text("pricing: {from_lava: yes please, refresh_seconds: 0, timeout_seconds: -1, "
                    "refresh: 5}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"LAVA_SECRET_KEY": TEST_SECRET})
    found = {p.key: p.message for p in info.value.problems}
    assert set(found) == {"pricing.from_lava", "pricing.refresh_seconds", "pricing.timeout_seconds",
                          "pricing.refresh"}
    assert "between 0.1 and 86400" in found["pricing.refresh_seconds"]
    assert "unknown key" in found["pricing.refresh"]
    # check-config says the same, with the keys, and fails.
    res = subprocess.run([sys.executable, "-m", "proxy", "check-config", "--config", str(path)],
                         capture_output=True, text=True, env={"LAVA_SECRET_KEY": TEST_SECRET},
                         check=False, timeout=60)
    assert res.returncode != 0
    assert "pricing.refresh_seconds" in res.stdout + res.stderr
    assert "pricing.from_lava" in res.stdout + res.stderr
