"""The document store: memory and SQLite honour one contract, checked against each other."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.emulator.accounts import Meter, Tier
from proxy.emulator.accounts.codec import Table
from proxy.emulator.store import MemoryStore, Store
from proxy.emulator.store_sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "db")
    yield s
    s.close()


def keys(store: Store, kind: str = "k", before: str | None = None) -> list[str]:
    return [str(d["id"]) for d in store.scan(kind, before=before)]


def test_scan_is_newest_first_and_replacing_keeps_the_position(store: Store) -> None:
    for k in "abc":
        store.put("k", k, {"id": k, "v": 1})
    store.put("k", "a", {"id": "a", "v": 2})
    assert keys(store) == ["c", "b", "a"]
    assert store.get("k", "a") == {"id": "a", "v": 2}
    assert keys(store, before="b") == ["a"]
    assert keys(store, before="missing") == []
    assert store.oldest("k") == "a"
    assert store.count("k") == 3
    assert store.get("other", "a") is None


def test_fields_are_scan_with_only_the_named_fields(store: Store) -> None:
    """What the dashboard reads of many request records: the same rows, in the same order, as
    ``scan``, only the fields asked for, missing ones as None (SQLite: ``json_extract``)."""
    docs = [{"id": f"r{i:04d}", "n": i, "who": None if i % 3 == 0 else f"c{i % 5}",
             "charge": f"0.{i:010d}", "ts": 1_790_000_000.5 + i, "nested": {"x": [i]}}
            for i in range(1203)]  # more than one SQLite batch
    for d in docs:
        store.put("k", str(d["id"]), dict(d))
    del docs[7]["who"]
    store.put("k", "r0007", docs[7])
    names = ("id", "n", "who", "charge", "ts", "absent")
    want = [tuple(d.get(n) for n in names) for d in store.scan("k")]
    assert list(store.fields("k", names)) == want
    assert want[0][0] == "r1202"
    assert want[-1][0] == "r0000"
    assert list(store.fields("k", ("id",), before="r0003")) == [("r0002",), ("r0001",), ("r0000",)]
    assert list(store.fields("k", ("id",), before="missing")) == []
    assert list(store.fields("other", ("id",))) == []
    if isinstance(store, SqliteStore):
        with pytest.raises(ValueError, match="not a field name"):
            list(store.fields("k", ("id') FROM docs --",)))


def test_delete(store: Store) -> None:
    store.put("k", "a", {"id": "a"})
    assert store.delete("k", "a") is True
    assert store.delete("k", "a") is False
    assert store.get("k", "a") is None
    assert store.oldest("k") is None


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    for k in "abc":
        store.put("k", k, {"id": k, "v": 0})
    def writes_then_fails() -> None:
        with store.transaction():
            store.put("k", "b", {"id": "b", "v": 9})
            store.delete("k", "a")
            store.put("k", "d", {"id": "d", "v": 0})
            with store.transaction():  # joins the outer one
                store.delete("k", "c")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        writes_then_fails()
    assert keys(store) == ["c", "b", "a"]
    assert store.get("k", "b") == {"id": "b", "v": 0}


def test_a_committed_transaction_keeps_everything(store: Store) -> None:
    with store.transaction():
        store.put("k", "a", {"id": "a"})
        store.put("k", "b", {"id": "b"})
    assert keys(store) == ["b", "a"]


def test_sqlite_survives_a_restart(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "db")
    first.put("k", "a", {"id": "a", "nested": {"x": [1, "2", None]}})
    first.close()
    second = SqliteStore(tmp_path / "db")
    assert second.get("k", "a") == {"id": "a", "nested": {"x": [1, "2", None]}}
    second.close()


def test_sqlite_scans_past_one_batch(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "db")
    with s.transaction():
        for i in range(1203):
            s.put("k", f"{i:05d}", {"id": f"{i:05d}"})
    got = keys(s)
    assert got == [f"{i:05d}" for i in reversed(range(1203))]
    s.close()


def _failing_transaction(s: Store, key: str) -> None:
    with s.transaction():
        s.put("k", key, {"id": key, "v": -1})
        s.delete("k", "a")
        raise RuntimeError


_ops = st.lists(st.tuples(st.sampled_from(["put", "delete", "tx_fail"]),
                          st.sampled_from("abcdef"), st.integers(0, 3)), max_size=40)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_memory_and_sqlite_agree_on_any_sequence_of_operations(
        ops: list[tuple[str, str, int]], tmp_path_factory: pytest.TempPathFactory) -> None:
    mem, sql = MemoryStore(), SqliteStore(tmp_path_factory.mktemp("db") / "db")
    for s in (mem, sql):
        for op, key, value in ops:
            if op == "put":
                s.put("k", key, {"id": key, "v": value})
            elif op == "delete":
                s.delete("k", key)
            else:
                with pytest.raises(RuntimeError):
                    _failing_transaction(s, key)
    assert list(mem.scan("k")) == list(sql.scan("k"))
    assert mem.oldest("k") == sql.oldest("k")
    sql.close()


def _rename_then_fail(table: Table[Meter], m: Meter) -> None:
    with table.store.transaction():
        table.put(dataclasses.replace(m, name="renamed"))
        raise RuntimeError


def test_a_table_never_serves_a_record_a_rollback_undid(store: Store) -> None:
    table = Table(store, "meter:mer_1", Meter, lambda r: r.meter_id)
    m = Meter("mtr_1", "chat", "Chat", "fixed", "tokens_1m", (Tier(Decimal(0), Decimal("3")),),
              1.5)
    table.put(m)
    assert table.get("mtr_1") == m
    with pytest.raises(RuntimeError):
        _rename_then_fail(table, m)
    assert table.get("mtr_1") == m
    assert [r.meter_id for r in table.scan()] == ["mtr_1"]
    assert table.delete("mtr_1")
    assert table.get("mtr_1") is None
