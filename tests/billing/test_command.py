"""``lava-sidecar billing …`` against the local Lava served from a thread: the seed flow from the
shell, JSON and table output, one-line errors with exit status 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from proxy.cli import main
from proxy.emulator.rest import create_app
from tests.emulator.accounts_setup import SECRET, World, served, token, world

from .servers import ThreadedServer


@pytest.fixture
def w() -> World:
    return world()


@pytest.fixture
def server(w: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(w.accounts)) as s:
        monkeypatch.setenv("LAVA_GATEWAY_URL", s.url)
        monkeypatch.setenv("LAVA_SECRET_KEY", SECRET)
        yield s


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(["billing", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_seed_flow_from_the_shell(server: ThreadedServer, w: World,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    meter = run(capsys, "meters", "create", "--name", "Chat tokens", "--rate", "3.00",
                "--tier-type", "tokens_1m")
    assert meter["tiers"][0]["rate"] == "3.00"
    plan = run(capsys, "plans", "create", "--name", "Pro", "--amount", "10",
               "--meter", meter["meter_id"], "--bundle", "Top-up:5:5")
    assert plan["credit_bundles"][0]["credit_amount"] == "5.0000000000"
    cs = run(capsys, "checkout", "create", "--plan", plan["plan_id"])
    done = run(capsys, "checkout", "complete", cs["checkout_session_id"], "--phone",
               "+15555550100", "--email", "ada@example.com")
    cid = done["customer_id"]
    t = token(cid, meter["meter_slug"])
    server.call(lambda: w.accounts.settle(t, served("req_1", input_tokens=1_000_000,
                                                    output_tokens=0)))
    usage = run(capsys, "usage", "--customer", cid, "--start", "2026-09-01T00:00:00Z",
                "--end", "2026-10-01T00:00:00Z")
    assert usage["totals"]["total_charge"] == "3.0000000000"
    records = run(capsys, "requests", "--customer", cid)
    assert [r["request_id"] for r in records] == ["req_1"]
    shown = run(capsys, "customers", "show", cid)
    assert shown[0]["customer_id"] == cid
    assert shown[1]["credits"]["total_remaining"] == "7.0000000000"
    assert [m["meter_id"] for m in run(capsys, "meters", "list")] == [meter["meter_id"]]
    assert len(run(capsys, "plans", "list")) == 2              # Pro and the default Free
    assert [c["customer_id"] for c in run(capsys, "customers", "list")] == [cid]


def test_tables_for_people(server: ThreadedServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["billing", "meters", "create", "--name", "Graduated", "--tier", "0:5",
                 "--tier", "1000000:3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["METER_ID", "SLUG", "NAME", "RATE_TYPE", "TIER_TYPE", "TIERS"]
    assert "graduated" in out[1]
    assert "0→5, 1000000→3" in out[1]
    assert main(["billing", "usage", "--start", "2026-09-21T00:00:00Z",
                 "--end", "2026-09-22T00:00:00Z"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["DATE", "REQUESTS", "TOKENS", "COST", "CHARGE"]
    assert lines[-1].split() == ["TOTAL", "0", "0", "0.00", "0.00"]


def test_errors_are_one_line_and_exit_1(server: ThreadedServer,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["billing", "checkout", "complete", "cs_test_nope", "--phone", "+1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: No checkout session")
    assert "404" in err
    monkeypatch.setenv("LAVA_SECRET_KEY", "aks_test_wrong_wrong_wrong_wrong")
    assert main(["billing", "meters", "list"]) == 1
    err = capsys.readouterr().err
    assert "401" in err
    assert "wrong_wrong" not in err
