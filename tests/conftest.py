"""Shared fixtures: a test merchant key and settings built the way the CLI builds them."""

from __future__ import annotations

import pytest

from proxy.secret import Secret

TEST_SECRET = "aks_test_sidecar0123456789abcdef"


@pytest.fixture
def secret_key() -> Secret:
    return Secret(TEST_SECRET)
