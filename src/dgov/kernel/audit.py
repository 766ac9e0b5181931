"""The audit chain: append-only records, each holding the SHA-256 of the previous one.

A record's hash covers its canonical JSON encoding (which includes the previous hash), so changing,
deleting or reordering any record breaks the chain from that point on. Every `checkpoint_every`
records the node signs (seq, hash) with its Ed25519 key, so that even a full recomputation of the
chain by someone with database access is detected: they cannot forge the checkpoint signatures.

`verify` names the earliest record it can no longer vouch for: one whose content does not match its
hash, a missing one, whichever of two neighbours was rehashed, or, after a full recomputation, the
first record after the last checkpoint that still holds (the change lies somewhere up to the next
one). Records after the last checkpoint can be recomputed unseen; `checkpoint_now` closes that window.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from dgov.kernel.canonical import canonical_json, sha256_hex
from dgov.kernel.keys import NodeKey, verify_signature
from dgov.kernel.models import AuditHead, audit_checkpoints, audit_records

GENESIS_HASH = "0" * 64
_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _ts_text(ts: datetime) -> str:
    # The database hands times back in UTC; hashing the UTC text keeps a record's hash the same
    # whichever zone the caller's datetime was in.
    if ts.tzinfo is None:
        raise ValueError("audit times must be timezone-aware (use kernel.clock)")
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    """What a use case records: who did what to which object, and on what legal basis."""

    actor: str
    action: str
    object_type: str
    object_id: str
    legal_basis: str | None = None
    on_behalf_of: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def record_hash(
    *,
    seq: int,
    ts: datetime,
    prev_hash: str,
    actor: str,
    on_behalf_of: str | None,
    action: str,
    object_type: str,
    object_id: str,
    legal_basis: str | None,
    details: dict[str, Any],
) -> str:
    body = {
        "seq": seq,
        "ts": _ts_text(ts),
        "prev": prev_hash,
        "actor": actor,
        "on_behalf_of": on_behalf_of,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "legal_basis": legal_basis,
        "details": details,
    }
    return sha256_hex(canonical_json(body))


def checkpoint_message(*, seq: int, hash_: str, ts: datetime, node: str) -> bytes:
    return canonical_json({"seq": seq, "hash": hash_, "ts": _ts_text(ts), "node": node})


@dataclass
class CheckpointPolicy:
    key: NodeKey | None
    node: str
    every: int


async def append(
    session: AsyncSession, entries: Sequence[AuditEntry], *, ts: datetime, policy: CheckpointPolicy
) -> int:
    """Chain `entries` onto the head inside the caller's transaction; returns the new head seq."""
    if not entries:
        raise ValueError("nothing to append")
    head = (await session.execute(_HEAD.with_for_update())).one()
    seq, prev = head.seq, head.hash
    rows: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    for e in entries:
        seq += 1
        h = record_hash(
            seq=seq,
            ts=ts,
            prev_hash=prev,
            actor=e.actor,
            on_behalf_of=e.on_behalf_of,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            legal_basis=e.legal_basis,
            details=e.details,
        )
        rows.append(
            {
                "seq": seq,
                "ts": ts,
                "actor": e.actor,
                "on_behalf_of": e.on_behalf_of,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "legal_basis": e.legal_basis,
                "details": e.details,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
        if policy.key is not None and seq % policy.every == 0:
            checkpoints.append(_signed_checkpoint(policy.key, policy.node, seq, h, ts))
    await session.execute(audit_records.insert(), rows)
    if checkpoints:
        await session.execute(audit_checkpoints.insert(), checkpoints)
    await session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))
    return int(seq)


def _signed_checkpoint(key: NodeKey, node: str, seq: int, hash_: str, ts: datetime) -> dict[str, Any]:
    return {
        "seq": seq,
        "hash": hash_,
        "ts": ts,
        "node": node,
        "key_id": key.key_id,
        "signature": key.sign(checkpoint_message(seq=seq, hash_=hash_, ts=ts, node=node)),
    }


async def checkpoint_now(session: AsyncSession, *, key: NodeKey, node: str, ts: datetime) -> int | None:
    """Sign the current head (for `dgov audit checkpoint` and before an archive export)."""
    head = (await session.execute(_HEAD.with_for_update())).one()
    if head.seq == 0:
        return None
    exists = await session.scalar(select(audit_checkpoints.c.seq).where(audit_checkpoints.c.seq == head.seq))
    if exists is None:
        await session.execute(
            audit_checkpoints.insert(), [_signed_checkpoint(key, node, head.seq, head.hash, ts)]
        )
    return int(head.seq)


@dataclass(frozen=True)
class VerifyResult:
    """`first_bad_seq` is the earliest record the chain can no longer vouch for; `records` counts the
    records before it (all of them when `ok`)."""

    ok: bool
    records: int
    checkpoints: int
    first_bad_seq: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class _Unreadable:
    """A stored record whose values no longer decode (edited by hand): it cannot be the original."""

    seq: int
    error: str


async def _fetch_batch(conn: AsyncConnection, after: int, batch: int) -> list[Any]:
    t = audit_records
    page = select(t).where(t.c.seq > after).order_by(t.c.seq).limit(batch)
    try:
        return list((await conn.execute(page)).all())
    except (ValueError, TypeError):
        pass
    # Some row of this batch no longer decodes (bad JSON, an unparseable time): read them one by one so
    # that verification names it instead of crashing.
    seqs = (
        (await conn.execute(select(t.c.seq).where(t.c.seq > after).order_by(t.c.seq).limit(batch)))
        .scalars()
        .all()
    )
    rows: list[Any] = []
    for s in seqs:
        try:
            rows.append((await conn.execute(select(t).where(t.c.seq == s))).one())
        except (ValueError, TypeError) as exc:
            rows.append(_Unreadable(int(s), type(exc).__name__))  # not str(exc): it may quote stored text
    return rows


async def _stream_records(conn: AsyncConnection, batch: int = 5000) -> AsyncIterator[Any]:
    last = 0
    while True:
        rows = await _fetch_batch(conn, last, batch)
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


def _stored_hash(r: Any) -> str | None:
    try:
        return record_hash(
            seq=r.seq,
            ts=r.ts,
            prev_hash=r.prev_hash,
            actor=r.actor,
            on_behalf_of=r.on_behalf_of,
            action=r.action,
            object_type=r.object_type,
            object_id=r.object_id,
            legal_basis=r.legal_basis,
            details=r.details,
        )
    except (TypeError, ValueError):  # e.g. a float written into details by hand: append never stores one
        return None


def _checkpoint_problem(cp: Any, key: NodeKey | None) -> str | None:
    if key is None:
        return None
    if cp.key_id != key.key_id:
        # Reasons never echo stored text (an operator's terminal renders them): a key id is base64url.
        shown = cp.key_id if _KEY_ID.fullmatch(str(cp.key_id)) else "(not a key id)"
        return f"checkpoint {cp.seq} is signed by an unknown key {shown}"
    msg = checkpoint_message(seq=cp.seq, hash_=cp.hash, ts=cp.ts, node=cp.node)
    if not verify_signature(key.public_key, cp.signature, msg):
        return f"the signature of checkpoint {cp.seq} is not valid (forged or altered)"
    return None


def _successor_hash(nxt: Any, head: Any, seq: int) -> str | None:
    """The hash that whatever follows record `seq` (the next record, or the head) holds for it."""
    if nxt is None:
        return str(head.hash) if head is not None and head.seq == seq else None
    if isinstance(nxt, _Unreadable) or nxt.seq != seq + 1:
        return None
    return str(nxt.prev_hash)


async def verify(conn: AsyncConnection, *, key: NodeKey | None) -> VerifyResult:
    """Walk the chain from genesis; the first record that does not fit is named.

    On a connection not yet in a transaction, the walk runs in one read-only snapshot (REPEATABLE READ
    on PostgreSQL, a deferred transaction on SQLite), so appends committed meanwhile can neither raise
    a false alarm (records newer than the head we read) nor hold the SQLite write lock for the walk.
    """
    if conn.in_transaction():
        return await _verify(conn, key)
    if conn.dialect.name == "sqlite":
        conn = await conn.execution_options(sqlite_begin="DEFERRED")
    async with conn.begin():
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        return await _verify(conn, key)


Problem = tuple[int, str]  # the first bad record's number, and what is wrong with it


async def _verify(conn: AsyncConnection, key: NodeKey | None) -> VerifyResult:
    cps = (await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))).all()
    checkpoints = {row.seq: row for row in cps}
    head = (await conn.execute(_HEAD)).one_or_none()

    def bad(problem: Problem) -> VerifyResult:
        seq, reason = problem
        return VerifyResult(False, max(seq - 1, 0), len(checkpoints), seq, reason)

    records = _stream_records(conn)
    expected, prev, vouched = 1, GENESIS_HASH, 0  # vouched: the last record a valid signature covers
    r = await anext(records, None)
    while r is not None:
        problem = _record_problem(r, expected)
        h = _stored_hash(r) if problem is None else None
        if problem is not None or h is None or h != r.hash:
            return bad(
                problem or (r.seq, f"record {r.seq} was changed (its content does not match its hash)")
            )
        nxt = await anext(records, None)
        if r.prev_hash != prev:
            return bad(_link_problem(r, h, nxt, head))
        cp = checkpoints.get(r.seq)
        if cp is not None:
            problem = _checkpoint_mismatch(cp, key, h, vouched, r.seq)
            if problem is not None:
                return bad(problem)
            vouched = r.seq
        prev, expected = h, expected + 1
        r = nxt
    count = expected - 1
    problem = _end_problem(head, count, prev) or _deleted_problem(checkpoints.values(), key, count)
    if problem is not None:
        return bad(problem)
    return VerifyResult(True, count, len(checkpoints))


def _record_problem(r: Any, expected: int) -> Problem | None:
    """A record missing, or whose stored values no longer decode."""
    if r.seq != expected:
        return expected, f"record {expected} is missing (the next one present is {r.seq})"
    if isinstance(r, _Unreadable):
        return r.seq, f"record {r.seq} was changed: its stored values no longer decode ({r.error})"
    return None


def _link_problem(r: Any, h: str, nxt: Any, head: Any) -> Problem:
    """Record r holds another hash for r-1 than r-1's own."""
    if r.seq == 1:
        return 1, "record 1 was changed: it does not start from the genesis hash"
    # Records r-1 and r each match their own hash, yet r holds another hash for r-1: one of them was
    # altered and rehashed. Rehashing r would also break r's link to what follows it; if that link
    # holds, r-1 is the one rewritten.
    succ = _successor_hash(nxt, head, r.seq)
    if succ is not None and succ != h:
        return (
            r.seq,
            f"record {r.seq} was changed and its hash recomputed "
            f"(it no longer links to record {r.seq - 1} nor to what follows it)",
        )
    return (
        r.seq - 1,
        f"record {r.seq - 1} was changed and its hash recomputed "
        f"(record {r.seq} holds a different hash for it)",
    )


def _checkpoint_mismatch(cp: Any, key: NodeKey | None, h: str, vouched: int, seq: int) -> Problem | None:
    problem = _checkpoint_problem(cp, key)
    if problem is not None:
        return seq, problem
    if cp.hash != h:
        return (
            vouched + 1,
            f"records {vouched + 1}–{seq} were rewritten: the chain's hash at "
            f"record {seq} is not the one signed in checkpoint {seq}",
        )
    return None


def _end_problem(head: Any, count: int, prev: str) -> Problem | None:
    """The chain's head row against the records actually there."""
    if head is None:
        return count + 1, "the head row of the chain is missing"
    if head.seq > count:
        return (
            count + 1,
            f"records {count + 1}–{head.seq} are missing: the chain ends at record {count} "
            f"but its head says {head.seq}",
        )
    if head.seq < count:
        return (
            head.seq + 1,
            f"records {head.seq + 1}–{count} were added outside the chain (its head says {head.seq})",
        )
    if head.hash != prev:
        return (
            max(count, 1),
            f"record {count} was changed and its hash recomputed "
            f"(the chain's head holds a different hash for it)",
        )
    return None


def _deleted_problem(checkpoints: Iterable[Any], key: NodeKey | None, count: int) -> Problem | None:
    """A valid checkpoint signed over records beyond the chain's end: they were deleted."""
    for cp in checkpoints:
        if cp.seq <= count:
            continue
        problem = _checkpoint_problem(cp, key)
        if problem is not None:
            return cp.seq, problem
        return (
            count + 1,
            f"records {count + 1}–{cp.seq} were deleted: checkpoint {cp.seq} was signed "
            f"over them but the chain ends at record {count}",
        )
    return None
