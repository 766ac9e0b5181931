"""The audit chain on SQLite and PostgreSQL: canonical encoding, checkpoints, and that every kind of
tampering someone with database access might try is caught and the first bad record named.

Tampering is done with raw SQL through the test transaction's session, as an intruder would. Each test
starts from an empty chain (emptied inside its own transaction, rolled back afterwards), and the `db`
fixture signs a checkpoint every 5 records, so a 12-record chain has checkpoints at 5 and 10.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, bindparam, create_engine, event, select, text
from sqlalchemy.engine import Row

from dgov.kernel import audit, clock, migrate
from dgov.kernel.audit import (
    GENESIS_HASH,
    AuditEntry,
    CheckpointPolicy,
    VerifyResult,
    checkpoint_message,
    record_hash,
)
from dgov.kernel.canonical import canonical_json
from dgov.kernel.config import to_sync_url
from dgov.kernel.db import install_sqlite_hooks, make_engine
from dgov.kernel.keys import NodeKey, verify_signature
from dgov.kernel.models import audit_checkpoints, audit_head, audit_records
from dgov.kernel.uow import Database

# --- canonical JSON --------------------------------------------------------------------------------------

PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer a JavaScript number (and so JCS) holds exactly


def test_canonical_bytes_are_exact_for_nested_vietnamese_data() -> None:
    value = {
        "tên": "Nguyễn Thị Ánh",
        "địa_chỉ": {"xã": "Phường Bến Nghé", "tỉnh": "Thành phố Hồ Chí Minh", "ghi_chú": None},
        "con": [{"tên": "Lê Văn Đức", "năm": 2031}, True, False, 0, -42],
        "a": [],
        "b": {},
    }
    expected = (
        '{"a":[],"b":{},"con":[{"năm":2031,"tên":"Lê Văn Đức"},true,false,0,-42],'
        '"tên":"Nguyễn Thị Ánh","địa_chỉ":{"ghi_chú":null,"tỉnh":"Thành phố Hồ Chí Minh",'
        '"xã":"Phường Bến Nghé"}}'
    ).encode()
    assert canonical_json(value) == expected
    # Insertion order does not matter; the bytes are UTF-8, never \u escapes.
    assert canonical_json(dict(reversed(list(value.items())))) == expected
    assert "Nguyễn".encode() in expected


def test_keys_sort_by_utf16_code_units_as_rfc_8785_requires() -> None:
    # The example of RFC 8785 section 3.2.3: an astral character (U+1F600) sorts before U+FB33 because
    # its UTF-16 surrogates (D83D…) are smaller, though its code point is larger.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = list(json.loads(canonical_json(value)))
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_strings_escape_only_what_rfc_8785_escapes() -> None:
    encoded = canonical_json({"s": 'a"b\\c\n\t\x01\x7f\u2028đ'})
    assert encoded == b'{"s":"a\\"b\\\\c\\n\\t\\u0001\x7f\xe2\x80\xa8\xc4\x91"}'


def test_unicode_is_hashed_as_given_never_normalised() -> None:
    nfc = "Nguyễn"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert canonical_json({"n": nfc}) != canonical_json({"n": nfd})


@pytest.mark.parametrize(
    "value",
    [1.5, 0.0, {"a": 1.0}, [1, [2, 3.25]], ("x", 2.5), {"a": {"b": [float("nan")]}}, float("inf")],
    ids=["top", "zero", "in-object", "nested-list", "in-tuple", "nan-deep", "inf"],
)
def test_floats_are_refused_wherever_they_hide(value: Any) -> None:
    with pytest.raises(TypeError, match="floats"):
        canonical_json(value)


@pytest.mark.parametrize("value", [{1: "a"}, {None: 1}, {"a": {2.5: 1}}, {True: 1}], ids=str)
def test_object_keys_must_be_strings(value: Any) -> None:
    with pytest.raises(TypeError, match="keys must be strings"):
        canonical_json(value)


def test_integers_beyond_javascripts_exact_range_are_refused() -> None:
    assert canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"
    for big in (MAX_SAFE_INTEGER + 1, -(MAX_SAFE_INTEGER + 1), 10**30):
        with pytest.raises(TypeError, match="too large"):
            canonical_json({"n": big})


@pytest.mark.parametrize(
    "value", [datetime(2030, 1, 1, tzinfo=UTC), Decimal("1.5"), {1, 2}, b"bytes"], ids=str
)
def test_values_json_cannot_carry_exactly_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        canonical_json({"v": value})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_survives_a_json_round_trip_unchanged(value: Any) -> None:
    """What the database hands back (parsed JSON) encodes to the same bytes as what was hashed."""
    encoded = canonical_json(value)
    assert json.loads(encoded) == value
    assert canonical_json(json.loads(encoded)) == encoded


def test_record_hash_is_sha256_of_the_documented_canonical_form() -> None:
    ts = datetime(2030, 9, 2, 8, 2, 3, 456789, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    h = record_hash(
        seq=1,
        ts=ts,
        prev_hash=GENESIS_HASH,
        actor="official:079201000001",
        on_behalf_of=None,
        action="registries.person.read",
        object_type="person",
        object_id="079201000009",
        legal_basis="Luật Căn cước 2023, Điều 10",
        details={"trường": ["họ_tên", "ngày_sinh"], "n": 3},
    )
    body = (
        '{"action":"registries.person.read","actor":"official:079201000001",'
        '"details":{"n":3,"trường":["họ_tên","ngày_sinh"]},"legal_basis":"Luật Căn cước 2023, Điều 10",'
        '"object_id":"079201000009","object_type":"person","on_behalf_of":null,"prev":"' + "0" * 64 + '",'
        '"seq":1,"ts":"2030-09-02T01:02:03.456789+00:00"}'
    )
    assert h == hashlib.sha256(body.encode()).hexdigest()
    # The same instant written in UTC hashes the same: the database hands it back in UTC.
    assert h == record_hash(
        seq=1,
        ts=ts.astimezone(UTC),
        prev_hash=GENESIS_HASH,
        actor="official:079201000001",
        on_behalf_of=None,
        action="registries.person.read",
        object_type="person",
        object_id="079201000009",
        legal_basis="Luật Căn cước 2023, Điều 10",
        details={"n": 3, "trường": ["họ_tên", "ngày_sinh"]},
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        record_hash(
            seq=1,
            ts=datetime(2030, 1, 1),
            prev_hash=GENESIS_HASH,
            actor="a",
            on_behalf_of=None,
            action="b",
            object_type="c",
            object_id="d",
            legal_basis=None,
            details={},
        )


# --- helpers over the database ---------------------------------------------------------------------------


@pytest.fixture
async def chain(db: Database) -> AsyncIterator[Database]:
    """`db` with an empty chain, whatever the session database held."""
    async with db.uow() as uow:
        await uow.session.execute(text("DELETE FROM audit_checkpoints"))
        await uow.session.execute(text("DELETE FROM audit_records"))
        await uow.session.execute(
            text("UPDATE audit_head SET seq = 0, hash = :h WHERE id = 1"), {"h": GENESIS_HASH}
        )
        await uow.commit()
    yield db


def entry(n: int) -> AuditEntry:
    return AuditEntry(
        actor=f"official:0792010000{n:02d}",
        action="registries.person.read",
        object_type="person",
        object_id=f"0792019999{n:02d}",
        legal_basis="Nghị định 59/2022/NĐ-CP" if n % 2 else None,
        on_behalf_of="citizen:079201000077" if n % 3 == 0 else None,
        details={"lần": n, "trường": ["họ_tên", "nơi_thường_trú"], "ghi_chú": {"vi": "Tra cứu số " + str(n)}},
    )


async def grow(db: Database, n: int, *, batches: tuple[int, ...] = (1, 3, 2)) -> None:
    """Append n entries in units of work of varying size (so batches straddle checkpoint boundaries)."""
    done, i = 0, 0
    while done < n:
        size = min(batches[i % len(batches)], n - done)
        async with db.uow() as uow:
            for k in range(done + 1, done + size + 1):
                uow.audit(entry(k))
            await uow.commit()
        done, i = done + size, i + 1


async def records(db: Database) -> list[Row[Any]]:
    async with db.uow(readonly=True) as uow:
        return list((await uow.session.execute(select(audit_records).order_by(audit_records.c.seq))).all())


async def checkpoints(db: Database) -> list[Row[Any]]:
    async with db.uow(readonly=True) as uow:
        return list(
            (await uow.session.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))).all()
        )


async def verify(db: Database, key: NodeKey | None) -> VerifyResult:
    async with db.uow(readonly=True) as uow:
        return await audit.verify(await uow.session.connection(), key=key)


async def sql(db: Database, statement: str, **params: Any) -> None:
    """Raw SQL as an intruder would type it; binds for ts/details use the columns' types."""
    stmt = text(statement)
    typed = [bindparam(k, type_=audit_records.c[k].type) for k in params if k in ("ts", "details")]
    if typed:
        stmt = stmt.bindparams(*typed)
    async with db.uow() as uow:
        await uow.session.execute(stmt, params)
        await uow.commit()


async def set_record(db: Database, seq: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    await sql(db, f"UPDATE audit_records SET {sets} WHERE seq = :seq", seq=seq, **values)


CONTENT = ("ts", "actor", "on_behalf_of", "action", "object_type", "object_id", "legal_basis", "details")


def rehash(r: Row[Any], **changes: Any) -> str:
    """What someone who knows the (public) hashing rule computes for a record they forged."""
    v = {c: getattr(r, c) for c in (*CONTENT, "seq", "prev_hash")} | changes
    return record_hash(
        seq=v["seq"],
        ts=v["ts"],
        prev_hash=v["prev_hash"],
        actor=v["actor"],
        on_behalf_of=v["on_behalf_of"],
        action=v["action"],
        object_type=v["object_type"],
        object_id=v["object_id"],
        legal_basis=v["legal_basis"],
        details=v["details"],
    )


async def rewrite_from(db: Database, k: int, **changes: Any) -> None:
    """Change record k and recompute every hash after it, moving the head too: a full recomputation."""
    rows = await records(db)
    prev = rows[k - 2].hash if k > 1 else GENESIS_HASH
    for r in rows[k - 1 :]:
        ch = changes if r.seq == k else {}
        h = rehash(r, prev_hash=prev, **ch)
        await set_record(db, r.seq, prev_hash=prev, hash=h, **ch)
        prev = h
    await sql(db, "UPDATE audit_head SET hash = :h WHERE id = 1", h=prev)


def stranger_key() -> NodeKey:
    """A valid Ed25519 key that is not this node's."""
    return NodeKey(Ed25519PrivateKey.generate())


def assert_broken_at(result: VerifyResult, seq: int, *words: str) -> None:
    assert not result.ok, result
    assert result.first_bad_seq == seq, result
    assert result.records == seq - 1, result
    for w in words:
        assert w in (result.reason or ""), result


# --- an intact chain -------------------------------------------------------------------------------------


async def test_a_chain_of_n_entries_verifies(chain: Database, node_key: NodeKey) -> None:
    await grow(chain, 12)
    rows = await records(chain)
    assert [r.seq for r in rows] == list(range(1, 13))
    assert rows[0].prev_hash == GENESIS_HASH
    for a, b in itertools.pairwise(rows):
        assert b.prev_hash == a.hash
    for r in rows:  # what came back from the database hashes to what was stored
        assert rehash(r) == r.hash
    assert rows[6].details == entry(7).details
    result = await verify(chain, node_key)
    assert result == VerifyResult(True, 12, 2)


async def test_an_empty_chain_verifies(chain: Database, node_key: NodeKey) -> None:
    assert await verify(chain, node_key) == VerifyResult(True, 0, 0)


async def test_awkward_values_survive_the_database_and_verify(chain: Database, node_key: NodeKey) -> None:
    nfd = unicodedata.normalize("NFD", "Phạm Thị Hương")
    tricky = AuditEntry(
        actor="official:Đặng Quốc Việt",
        action="civil_status.birth.registered",
        object_type="dossier",
        object_id="G01.12.34-250101-0001",
        legal_basis="Luật Hộ tịch 2014, Điều 16",
        on_behalf_of="citizen:" + nfd,
        details={
            "mẹ": {"tên": nfd, "năm_sinh": 1995},
            "nfc": "Phạm Thị Hương",
            "số_lớn": MAX_SAFE_INTEGER,
            "âm": -7,
            "rỗng": {"list": [], "dict": {}, "str": ""},
            "cờ": [True, False, None],
            "lồng": [[["sâu"]]],
            "ký_tự": 'a"b\\c\n\t\x01',
            "emoji": "😀",
            "zz": "cuối",
            "A": "hoa",
        },
    )
    # A time given in Vietnam's zone, with an odd microsecond: stored and read back in UTC.
    ts = datetime(2030, 12, 31, 23, 59, 59, 999999, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    async with chain.uow() as uow:
        await audit.append(uow.session, [tricky, entry(2)], ts=ts, policy=chain.checkpoint)
        await uow.commit()
    rows = await records(chain)
    assert rows[0].details == tricky.details
    assert rows[0].on_behalf_of == tricky.on_behalf_of  # NFD stays NFD
    assert rows[0].ts == ts
    assert await verify(chain, node_key) == VerifyResult(True, 2, 0)


async def test_appending_nothing_is_refused(chain: Database) -> None:
    async with chain.uow() as uow:
        with pytest.raises(ValueError, match="nothing"):
            await audit.append(uow.session, [], ts=clock.now(), policy=chain.checkpoint)


# --- checkpoints -----------------------------------------------------------------------------------------


async def test_checkpoints_are_signed_every_5_records_with_the_node_key(
    chain: Database, node_key: NodeKey
) -> None:
    await grow(chain, 12, batches=(4, 3, 5))  # units of work 1-4, 5-7, 8-12: boundaries fall inside them
    rows = {r.seq: r for r in await records(chain)}
    cps = await checkpoints(chain)
    assert [cp.seq for cp in cps] == [5, 10]
    stranger = stranger_key()
    for cp in cps:
        assert cp.hash == rows[cp.seq].hash
        assert cp.key_id == node_key.key_id
        assert cp.node == "test-node"
        msg = checkpoint_message(seq=cp.seq, hash_=cp.hash, ts=cp.ts, node=cp.node)
        assert verify_signature(node_key.public_key, cp.signature, msg)
        assert not verify_signature(stranger.public_key, cp.signature, msg)
        other = checkpoint_message(seq=cp.seq, hash_=rows[cp.seq - 1].hash, ts=cp.ts, node=cp.node)
        assert not verify_signature(node_key.public_key, cp.signature, other)


async def test_checkpoint_now_signs_the_head_once(chain: Database, node_key: NodeKey) -> None:
    async with chain.uow() as uow:
        assert await audit.checkpoint_now(uow.session, key=node_key, node="test-node", ts=clock.now()) is None
        await uow.commit()
    await grow(chain, 7)
    for _ in range(2):
        async with chain.uow() as uow:
            signed = await audit.checkpoint_now(uow.session, key=node_key, node="test-node", ts=clock.now())
            await uow.commit()
        assert signed == 7
    assert [cp.seq for cp in await checkpoints(chain)] == [5, 7]
    assert await verify(chain, node_key) == VerifyResult(True, 7, 2)


# --- tampering -------------------------------------------------------------------------------------------


@pytest.fixture
async def twelve(chain: Database) -> Database:
    await grow(chain, 12)
    return chain


FIELD_CHANGES: dict[str, Any] = {
    "actor": "official:kẻ-giả-mạo",
    "on_behalf_of": "citizen:079201000002",
    "action": "registries.person.deleted",
    "object_type": "dossier",
    "object_id": "079201999999",
    "legal_basis": None,
    "details": {"lần": 7, "trường": ["toàn_bộ"], "ghi_chú": {"vi": "Tra cứu số 7"}},
    "hash": "f" * 64,
    "prev_hash": "e" * 64,
}


@pytest.mark.parametrize("field", [*FIELD_CHANGES, "ts"])
async def test_changing_a_field_in_place_is_caught_at_that_record(
    twelve: Database, node_key: NodeKey, field: str
) -> None:
    before = (await records(twelve))[6]
    value = before.ts + timedelta(microseconds=1) if field == "ts" else FIELD_CHANGES[field]
    assert getattr(before, field) != value
    await set_record(twelve, 7, **{field: value})
    assert_broken_at(await verify(twelve, node_key), 7, "record 7 was changed")


async def test_deleting_a_middle_record_is_caught(twelve: Database, node_key: NodeKey) -> None:
    await sql(twelve, "DELETE FROM audit_records WHERE seq = 6")
    assert_broken_at(await verify(twelve, node_key), 6, "record 6 is missing")


async def test_deleting_the_first_record_is_caught(twelve: Database, node_key: NodeKey) -> None:
    await sql(twelve, "DELETE FROM audit_records WHERE seq = 1")
    assert_broken_at(await verify(twelve, node_key), 1, "record 1 is missing")


async def test_deleting_the_tail_is_caught_by_the_head(twelve: Database, node_key: NodeKey) -> None:
    await sql(twelve, "DELETE FROM audit_records WHERE seq >= 11")
    assert_broken_at(await verify(twelve, node_key), 11, "11–12 are missing")


async def test_deleting_the_tail_and_moving_the_head_back_is_caught_by_a_checkpoint(
    twelve: Database, node_key: NodeKey
) -> None:
    seventh = (await records(twelve))[6]
    await sql(twelve, "DELETE FROM audit_records WHERE seq >= 8")
    await sql(twelve, "UPDATE audit_head SET seq = 7, hash = :h WHERE id = 1", h=seventh.hash)
    assert_broken_at(await verify(twelve, node_key), 8, "8–10 were deleted")


async def test_a_record_added_past_the_head_is_caught(twelve: Database, node_key: NodeKey) -> None:
    last = (await records(twelve))[-1]
    fake = {c: getattr(last, c) for c in CONTENT} | {"seq": 13, "prev_hash": last.hash, "actor": "ma"}
    fake["hash"] = rehash(last, **fake)
    cols, binds = ", ".join(fake), ", ".join(":" + c for c in fake)
    await sql(twelve, f"INSERT INTO audit_records ({cols}) VALUES ({binds})", **fake)
    assert_broken_at(await verify(twelve, node_key), 13, "13–13 were added outside the chain")


async def test_a_missing_head_row_is_caught(twelve: Database, node_key: NodeKey) -> None:
    await sql(twelve, "DELETE FROM audit_head")
    assert_broken_at(await verify(twelve, node_key), 13, "head row")


async def test_swapping_two_records_contents_is_caught(twelve: Database, node_key: NodeKey) -> None:
    rows = await records(twelve)
    fourth, fifth = rows[3], rows[4]
    movable = (*CONTENT, "prev_hash", "hash")
    await set_record(twelve, 4, **{c: getattr(fifth, c) for c in movable})
    await set_record(twelve, 5, **{c: getattr(fourth, c) for c in movable})
    assert_broken_at(await verify(twelve, node_key), 4, "record 4 was changed")


async def test_reordering_two_records_is_caught(twelve: Database, node_key: NodeKey) -> None:
    await sql(twelve, "UPDATE audit_records SET seq = -1 WHERE seq = 8")
    await sql(twelve, "UPDATE audit_records SET seq = 8 WHERE seq = 9")
    await sql(twelve, "UPDATE audit_records SET seq = 9 WHERE seq = -1")
    assert_broken_at(await verify(twelve, node_key), 8, "record 8 was changed")


async def test_swapping_two_records_and_rehashing_both_is_caught(twelve: Database, node_key: NodeKey) -> None:
    rows = await records(twelve)
    fourth, fifth = rows[3], rows[4]
    await set_record(
        twelve,
        4,
        **{c: getattr(fifth, c) for c in CONTENT},
        prev_hash=fifth.prev_hash,
        hash=rehash(fifth, seq=4),
    )
    await set_record(
        twelve,
        5,
        **{c: getattr(fourth, c) for c in CONTENT},
        prev_hash=fourth.prev_hash,
        hash=rehash(fourth, seq=5),
    )
    assert_broken_at(await verify(twelve, node_key), 4, "record 4 was changed and its hash recomputed")


async def test_a_forged_record_with_its_hash_recomputed_breaks_the_next_link(
    twelve: Database, node_key: NodeKey
) -> None:
    seventh = (await records(twelve))[6]
    forger = "official:kẻ-giả-mạo"
    await set_record(twelve, 7, actor=forger, hash=rehash(seventh, actor=forger))
    # Record 7 matches its own hash now; record 8 still holds the original one, so 7 is named.
    assert_broken_at(await verify(twelve, node_key), 7, "record 7 was changed", "record 8 holds")


async def test_a_forged_link_with_its_hash_recomputed_names_the_forged_record(
    twelve: Database, node_key: NodeKey
) -> None:
    # Here the forger rewrote record 7's link (prev_hash) and rehashed it: 6 is intact, 7 is not.
    seventh = (await records(twelve))[6]
    await set_record(twelve, 7, prev_hash="a" * 64, hash=rehash(seventh, prev_hash="a" * 64))
    assert_broken_at(await verify(twelve, node_key), 7, "record 7 was changed and its hash recomputed")


async def test_a_forged_first_record_is_named(twelve: Database, node_key: NodeKey) -> None:
    first = (await records(twelve))[0]
    await set_record(twelve, 1, object_id="0", hash=rehash(first, object_id="0"))
    assert_broken_at(await verify(twelve, node_key), 1, "record 1 was changed")


async def test_a_first_record_that_does_not_start_from_genesis_is_named(
    twelve: Database, node_key: NodeKey
) -> None:
    first = (await records(twelve))[0]
    await set_record(twelve, 1, prev_hash="1" * 64, hash=rehash(first, prev_hash="1" * 64))
    assert_broken_at(await verify(twelve, node_key), 1, "genesis")


async def test_a_forged_last_record_with_its_hash_recomputed_is_caught_by_the_head(
    twelve: Database, node_key: NodeKey
) -> None:
    last = (await records(twelve))[-1]
    await set_record(twelve, 12, object_id="0", hash=rehash(last, object_id="0"))
    assert_broken_at(await verify(twelve, node_key), 12, "record 12 was changed", "head")


@pytest.mark.parametrize(("changed", "first_unvouched"), [(6, 6), (8, 6), (2, 1)])
async def test_recomputing_the_whole_chain_after_a_change_is_caught_by_the_signed_checkpoint(
    twelve: Database, node_key: NodeKey, changed: int, first_unvouched: int
) -> None:
    await rewrite_from(twelve, changed, actor="official:kẻ-giả-mạo")
    rows = await records(twelve)
    assert all(rehash(r) == r.hash for r in rows)  # every record and link is consistent again
    # Only the checkpoint after the change knows; the change lies after the last checkpoint that holds.
    checkpoint = 5 if changed <= 5 else 10
    result = await verify(twelve, node_key)
    assert_broken_at(result, first_unvouched, f"records {first_unvouched}–{checkpoint} were rewritten")


async def test_recomputing_the_chain_and_the_checkpoint_hash_is_caught_by_its_signature(
    twelve: Database, node_key: NodeKey
) -> None:
    await rewrite_from(twelve, 8, actor="official:kẻ-giả-mạo")
    tenth = (await records(twelve))[9]
    await sql(twelve, "UPDATE audit_checkpoints SET hash = :h WHERE seq = 10", h=tenth.hash)
    assert_broken_at(await verify(twelve, node_key), 10, "signature of checkpoint 10 is not valid")


async def test_rewrites_after_the_last_checkpoint_need_checkpoint_now_to_be_caught(
    twelve: Database, node_key: NodeKey
) -> None:
    # Records 11-12 follow the last automatic checkpoint: a full rewrite of them is not detectable
    # (the documented window). Signing the head now, as `dgov audit checkpoint` does, closes it.
    async with twelve.uow() as uow:
        await audit.checkpoint_now(uow.session, key=node_key, node="test-node", ts=clock.now())
        await uow.commit()
    await rewrite_from(twelve, 11, object_id="0")
    assert_broken_at(await verify(twelve, node_key), 11, "records 11–12 were rewritten")


async def test_without_a_later_checkpoint_a_full_rewrite_of_the_tail_goes_unseen(
    twelve: Database, node_key: NodeKey
) -> None:
    """The limit ADR 0003 names, pinned so that closing it (e.g. anchoring checkpoints off-node) shows."""
    await rewrite_from(twelve, 11, object_id="0")
    assert (await verify(twelve, node_key)).ok


async def test_a_checkpoint_signed_by_another_key_under_the_node_key_id_is_caught(
    twelve: Database, node_key: NodeKey
) -> None:
    cp = (await checkpoints(twelve))[1]
    forged = stranger_key().sign(checkpoint_message(seq=cp.seq, hash_=cp.hash, ts=cp.ts, node=cp.node))
    await sql(twelve, "UPDATE audit_checkpoints SET signature = :s WHERE seq = 10", s=forged)
    assert_broken_at(await verify(twelve, node_key), 10, "signature of checkpoint 10 is not valid")


@pytest.mark.parametrize("signature", ["not-a-signature!", "", "A" * 86])
async def test_a_garbage_checkpoint_signature_is_caught(
    twelve: Database, node_key: NodeKey, signature: str
) -> None:
    await sql(twelve, "UPDATE audit_checkpoints SET signature = :s WHERE seq = 5", s=signature)
    assert_broken_at(await verify(twelve, node_key), 5, "signature of checkpoint 5 is not valid")


async def test_a_checkpoint_re_signed_with_an_intruders_own_key_is_caught(
    twelve: Database, node_key: NodeKey
) -> None:
    intruder = stranger_key()
    cp = (await checkpoints(twelve))[1]
    sig = intruder.sign(checkpoint_message(seq=cp.seq, hash_=cp.hash, ts=cp.ts, node=cp.node))
    await sql(
        twelve,
        "UPDATE audit_checkpoints SET signature = :s, key_id = :k WHERE seq = 10",
        s=sig,
        k=intruder.key_id,
    )
    assert_broken_at(await verify(twelve, node_key), 10, "unknown key")


@pytest.mark.parametrize("column", ["node", "ts"])
async def test_altering_what_a_checkpoint_signed_is_caught(
    twelve: Database, node_key: NodeKey, column: str
) -> None:
    cp = (await checkpoints(twelve))[0]
    if column == "node":
        await sql(twelve, "UPDATE audit_checkpoints SET node = 'other-node' WHERE seq = 5")
    else:
        stmt = "UPDATE audit_checkpoints SET ts = :ts WHERE seq = 5"
        async with twelve.uow() as uow:
            await uow.session.execute(
                text(stmt).bindparams(bindparam("ts", type_=audit_checkpoints.c.ts.type)),
                {"ts": cp.ts - timedelta(days=1)},
            )
            await uow.commit()
    assert_broken_at(await verify(twelve, node_key), 5, "signature of checkpoint 5 is not valid")


async def test_a_forged_checkpoint_past_the_end_is_caught(twelve: Database, node_key: NodeKey) -> None:
    await sql(
        twelve,
        "INSERT INTO audit_checkpoints (seq, hash, ts, node, key_id, signature) "
        "VALUES (15, :h, :ts, 'test-node', :k, 'AAAA')",
        h="b" * 64,
        ts=datetime(2030, 1, 1, tzinfo=UTC),
        k=node_key.key_id,
    )
    assert_broken_at(await verify(twelve, node_key), 15, "signature of checkpoint 15 is not valid")


async def test_without_the_key_signatures_are_not_checked_but_hashes_are(twelve: Database) -> None:
    await sql(twelve, "UPDATE audit_checkpoints SET signature = 'x' WHERE seq = 5")
    assert (await verify(twelve, None)).ok
    await rewrite_from(twelve, 3, actor="x")
    assert_broken_at(await verify(twelve, None), 1, "records 1–5 were rewritten")


async def test_a_float_written_into_details_is_a_change_not_a_crash(
    twelve: Database, node_key: NodeKey
) -> None:
    await set_record(twelve, 7, details={"lần": 7.0})
    assert_broken_at(await verify(twelve, node_key), 7, "record 7 was changed")


# SQLite only: PostgreSQL's column types refuse such values outright, so there is no case to test there.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("column", "value"), [("details", "{not json"), ("ts", "[/x] hôm qua"), ("details", "[1.5e400]")]
)
async def test_a_value_that_no_longer_decodes_is_named_not_a_crash(
    twelve: Database, node_key: NodeKey, column: str, value: str
) -> None:
    await sql(twelve, f"UPDATE audit_records SET {column} = :v WHERE seq = 7", v=value)
    result = await verify(twelve, node_key)
    assert_broken_at(result, 7, "record 7 was changed")
    assert value not in (result.reason or "")  # reasons are printed as-is: no stored text in them


async def test_a_stored_key_id_is_not_echoed_into_the_reason(twelve: Database, node_key: NodeKey) -> None:
    # The CLI prints reasons to the operator's terminal (through Rich markup): stored text stays out.
    await sql(twelve, "UPDATE audit_checkpoints SET key_id = '[/red] évil' WHERE seq = 5")
    result = await verify(twelve, node_key)
    assert_broken_at(result, 5, "checkpoint 5 is signed by an unknown key (not a key id)")
    assert "évil" not in (result.reason or "")


async def test_a_chain_longer_than_one_read_batch_is_walked_and_tampering_past_it_named(
    chain: Database, node_key: NodeKey
) -> None:
    async with chain.uow() as uow:  # one unit of work, so this stays quick
        for k in range(1, 5004):
            uow.audit(AuditEntry(actor="system:test", action="bulk", object_type="n", object_id=str(k)))
        await uow.commit()
    assert await verify(chain, node_key) == VerifyResult(True, 5003, 1000)
    await sql(chain, "UPDATE audit_records SET object_id = 'x' WHERE seq = 5002")
    assert_broken_at(await verify(chain, node_key), 5002, "record 5002 was changed")


# --- verifying a live node -------------------------------------------------------------------------------


@pytest.fixture
async def live_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated database that really commits (verify must cope with other writers)."""
    name = f"dgov_audit_live_{os.getpid()}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}"
    else:
        try:
            psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        except psycopg.OperationalError:
            if ON_CI:
                pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true")
            pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        url = f"{PG_HOST_URL}/{name}"
    await asyncio.to_thread(migrate.upgrade, url)
    yield url
    if backend == "postgresql":
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def legit_append(sync_engine: Engine) -> None:
    """Another process of the node appending one record the proper way, and committing."""
    with sync_engine.begin() as conn:
        head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
        ts, seq = clock.now(), head.seq + 1
        e = entry(seq)
        h = record_hash(
            seq=seq,
            ts=ts,
            prev_hash=head.hash,
            actor=e.actor,
            on_behalf_of=e.on_behalf_of,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            legal_basis=e.legal_basis,
            details=e.details,
        )
        conn.execute(
            audit_records.insert().values(
                seq=seq,
                ts=ts,
                actor=e.actor,
                on_behalf_of=e.on_behalf_of,
                action=e.action,
                object_type=e.object_type,
                object_id=e.object_id,
                legal_basis=e.legal_basis,
                details=e.details,
                prev_hash=head.hash,
                hash=h,
            )
        )
        conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=h))


async def test_verify_reads_one_snapshot_while_the_node_keeps_appending(
    live_url: str, node_key: NodeKey
) -> None:
    """A record committed while verify walks (here: right after it read the head) is neither a false
    alarm (more records than the head it read) nor blocked (SQLite: verify holds no write lock)."""
    engine = make_engine(live_url)
    writer = create_engine(to_sync_url(live_url))
    if writer.dialect.name == "sqlite":
        install_sqlite_hooks(writer)
        # Fail in 2 s rather than 30 if verify held the write lock (runs after the hooks' own pragmas).
        event.listen(writer, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA busy_timeout = 2000"))
    db = Database.from_engine(engine, CheckpointPolicy(key=node_key, node="test-node", every=5))
    appended: list[bool] = []

    def append_after_head_read(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "FROM audit_head" in statement and not appended:
            appended.append(True)
            legit_append(writer)

    try:
        await grow(db, 12)
        event.listen(engine.sync_engine, "after_cursor_execute", append_after_head_read)
        async with engine.connect() as conn:
            during = await audit.verify(conn, key=node_key)
        event.remove(engine.sync_engine, "after_cursor_execute", append_after_head_read)
        assert appended == [True]
        assert during == VerifyResult(True, 12, 2)  # the state as of the snapshot
        async with engine.connect() as conn:
            assert await audit.verify(conn, key=node_key) == VerifyResult(True, 13, 2)
    finally:
        writer.dispose()
        await engine.dispose()
