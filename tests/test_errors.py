"""Error bodies parse in the caller's SDK shape and keep a stable code."""

from __future__ import annotations

import json

import pytest

from proxy.errors import (
    BodyTooLarge,
    ConfigError,
    GatewayTimeout,
    IdentityError,
    Problem,
    RouteNotFound,
    error_body,
    render,
)


def test_openai_shape() -> None:
    doc = json.loads(render("openai", RouteNotFound("No route.")))
    assert doc == {"error": {"message": "No route.", "type": "not_found_error", "param": None,
                             "code": "route_not_found"}}


def test_anthropic_shape() -> None:
    doc = json.loads(render("anthropic", BodyTooLarge("Too big.")))
    assert doc == {"type": "error", "error": {"type": "request_too_large", "message": "Too big.",
                                              "code": "request_too_large"}}


def test_gemini_shape_is_googles_with_the_code_as_error_info() -> None:
    doc = json.loads(render("gemini", IdentityError("No customer.")))
    assert doc == {"error": {"code": 401, "message": "No customer.", "status": "UNAUTHENTICATED",
                             "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                          "reason": "customer_missing", "domain": "lava-sidecar"}]}}
    assert json.loads(render("gemini", GatewayTimeout("Slow.")))["error"]["status"] == \
        "DEADLINE_EXCEEDED"
    assert json.loads(error_body("gemini", 413, "x", "m"))["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(("status", "etype"), [(502, "server_error"), (504, "server_error"),
                                               (400, "invalid_request_error")])
def test_openai_types_by_status(status: int, etype: str) -> None:
    assert json.loads(error_body("openai", status, "x", "m"))["error"]["type"] == etype


def test_identity_error_instance_overrides_do_not_leak_to_class() -> None:
    err = IdentityError("bad", code="customer_id_invalid", status=400)
    assert (err.status, err.code) == (400, "customer_id_invalid")
    assert (IdentityError.status, IdentityError.code) == (401, "customer_missing")
    assert GatewayTimeout("t").status == 504


def test_config_error_lists_every_problem() -> None:
    err = ConfigError([Problem("a.b", "bad"), Problem("c", "worse")])
    assert "a.b: bad" in err.message
    assert "c: worse" in err.message
    assert "2 configuration" in err.message
