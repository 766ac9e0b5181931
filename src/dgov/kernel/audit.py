"""The audit chain: append-only records, each holding the SHA-256 of the previous one.

A record's hash covers its canonical JSON encoding (which includes the previous hash), so changing,
deleting or reordering any record breaks the chain from that point on. Every `checkpoint_every`
records the node signs (seq, hash) with its Ed25519 key, so that even a full recomputation of the
chain by someone with database access is detected: they cannot forge the checkpoint signatures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from dgov.kernel.canonical import canonical_json, sha256_hex
from dgov.kernel.keys import NodeKey, verify_signature
from dgov.kernel.models import AuditCheckpoint, AuditHead, AuditRecord

GENESIS_HASH = "0" * 64


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
        "ts": ts.isoformat(timespec="microseconds"),
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
    return canonical_json({"seq": seq, "hash": hash_, "ts": ts.isoformat(timespec="microseconds"), "node": node})


@dataclass
class CheckpointPolicy:
    key: NodeKey | None
    node: str
    every: int


async def append(
    session: AsyncSession, entries: Sequence[AuditEntry], *, ts: datetime, policy: CheckpointPolicy
) -> int:
    """Chain `entries` onto the head inside the caller's transaction; returns the new head seq."""
    head = (
        await session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update())
    ).one()
    seq, prev = head.seq, head.hash
    rows: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    for e in entries:
        seq += 1
        h = record_hash(
            seq=seq, ts=ts, prev_hash=prev, actor=e.actor, on_behalf_of=e.on_behalf_of, action=e.action,
            object_type=e.object_type, object_id=e.object_id, legal_basis=e.legal_basis, details=e.details,
        )
        rows.append(
            {
                "seq": seq, "ts": ts, "actor": e.actor, "on_behalf_of": e.on_behalf_of, "action": e.action,
                "object_type": e.object_type, "object_id": e.object_id, "legal_basis": e.legal_basis,
                "details": e.details, "prev_hash": prev, "hash": h,
            }
        )
        prev = h
        if policy.key is not None and seq % policy.every == 0:
            checkpoints.append(_signed_checkpoint(policy.key, policy.node, seq, h, ts))
    await session.execute(AuditRecord.__table__.insert(), rows)
    if checkpoints:
        await session.execute(AuditCheckpoint.__table__.insert(), checkpoints)
    await session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))
    return seq


def _signed_checkpoint(key: NodeKey, node: str, seq: int, hash_: str, ts: datetime) -> dict[str, Any]:
    return {
        "seq": seq, "hash": hash_, "ts": ts, "node": node, "key_id": key.key_id,
        "signature": key.sign(checkpoint_message(seq=seq, hash_=hash_, ts=ts, node=node)),
    }


async def checkpoint_now(session: AsyncSession, *, key: NodeKey, node: str, ts: datetime) -> int | None:
    """Sign the current head (for `dgov audit checkpoint` and before an archive export)."""
    head = (
        await session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update())
    ).one()
    if head.seq == 0:
        return None
    exists = await session.scalar(select(AuditCheckpoint.seq).where(AuditCheckpoint.seq == head.seq))
    if exists is None:
        await session.execute(
            AuditCheckpoint.__table__.insert(), [_signed_checkpoint(key, node, head.seq, head.hash, ts)]
        )
    return int(head.seq)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    checkpoints: int
    first_bad_seq: int | None = None
    reason: str | None = None


async def _stream_records(conn: AsyncConnection, batch: int = 5000) -> AsyncIterator[Any]:
    t = AuditRecord.__table__
    last = 0
    while True:
        rows = (await conn.execute(select(t).where(t.c.seq > last).order_by(t.c.seq).limit(batch))).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def verify(conn: AsyncConnection, *, key: NodeKey | None) -> VerifyResult:
    """Walk the chain from genesis; the first record that does not fit is named."""
    checkpoints = {
        row.seq: row for row in (await conn.execute(select(AuditCheckpoint.__table__))).all()
    }
    expected_seq, prev, count = 1, GENESIS_HASH, 0
    async for r in _stream_records(conn):
        if r.seq != expected_seq:
            return VerifyResult(False, count, len(checkpoints), expected_seq,
                                f"record {expected_seq} is missing (next present is {r.seq})")
        if r.prev_hash != prev:
            return VerifyResult(False, count, len(checkpoints), r.seq,
                                f"record {r.seq} does not follow record {r.seq - 1} (previous hash differs)")
        h = record_hash(
            seq=r.seq, ts=r.ts, prev_hash=r.prev_hash,
            actor=r.actor, on_behalf_of=r.on_behalf_of, action=r.action, object_type=r.object_type,
            object_id=r.object_id, legal_basis=r.legal_basis, details=r.details,
        )
        if h != r.hash:
            return VerifyResult(False, count, len(checkpoints), r.seq,
                                f"record {r.seq} was changed (its content does not match its hash)")
        cp = checkpoints.get(r.seq)
        if cp is not None and cp.hash != h:
            return VerifyResult(False, count, len(checkpoints), r.seq,
                                f"record {r.seq} differs from the signed checkpoint at {r.seq}")
        prev, expected_seq, count = h, expected_seq + 1, count + 1
    head = (await conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1))).one()
    if head.seq != count or head.hash != prev:
        return VerifyResult(False, count, len(checkpoints), count + 1 if head.seq > count else head.seq,
                            f"the chain ends at record {count} but its head says {head.seq}")
    for cp in checkpoints.values():
        if cp.seq > count:
            return VerifyResult(False, count, len(checkpoints), count + 1,
                                f"signed checkpoint {cp.seq} is past the end of the chain (records deleted)")
        if key is None:
            continue
        if cp.key_id != key.key_id:
            return VerifyResult(False, count, len(checkpoints), cp.seq,
                                f"checkpoint {cp.seq} is signed by an unknown key {cp.key_id}")
        msg = checkpoint_message(seq=cp.seq, hash_=cp.hash, ts=cp.ts, node=cp.node)
        if not verify_signature(key.public_key, cp.signature, msg):
            return VerifyResult(False, count, len(checkpoints), cp.seq,
                                f"the signature of checkpoint {cp.seq} is not valid")
    return VerifyResult(True, count, len(checkpoints))

