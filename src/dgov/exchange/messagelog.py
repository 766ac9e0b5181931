"""The message log: every exchange the gateway handled, in an append-only hash chain with signed
checkpoints, written in group commits.

It follows the audit chain's design (kernel/audit.py) and reuses its pieces: the genesis hash, the
canonical JSON a record's hash covers, and the checkpoint message signed with the node key. Records
carry what an auditor needs to settle a dispute later: both signatures and their inputs, the content
digests, who called which service for what purpose, outcome, status and duration. Personal ID numbers
appear masked only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from dgov.exchange.models import log_checkpoints_t, log_head_t, log_t
from dgov.kernel.audit import GENESIS_HASH, checkpoint_message
from dgov.kernel.canonical import canonical_json, sha256_hex
from dgov.kernel.group_commit import GroupCommitWriter
from dgov.kernel.keys import NodeKey, verify_signature
from dgov.kernel.uow import Database, UnitOfWork

_HEAD = select(log_head_t.c.seq, log_head_t.c.hash).where(log_head_t.c.id == 1)


@dataclass(frozen=True)
class LogEntry:
    ts: datetime
    message_id: str
    client: str
    service: str
    method: str
    path: str
    status: int
    outcome: str
    duration_ms: int
    details: dict[str, Any] = field(default_factory=dict)


def _ts_text(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(seq: int, prev: str, e: Any) -> str:
    return sha256_hex(
        canonical_json(
            {
                "seq": seq,
                "prev": prev,
                "ts": _ts_text(e.ts),
                "message_id": e.message_id,
                "client": e.client,
                "service": e.service,
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "outcome": e.outcome,
                "duration_ms": e.duration_ms,
                "details": e.details,
            }
        )
    )


async def append(
    session: AsyncSession, entries: list[LogEntry], *, key: NodeKey | None, node: str, every: int
) -> int:
    head = (await session.execute(_HEAD.with_for_update())).one()
    seq, prev = int(head.seq), str(head.hash)
    rows, cps = [], []
    for e in entries:
        seq += 1
        h = entry_hash(seq, prev, e)
        rows.append(
            {
                "seq": seq,
                "ts": e.ts,
                "message_id": e.message_id,
                "client": e.client,
                "service": e.service,
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "outcome": e.outcome,
                "duration_ms": e.duration_ms,
                "details": e.details,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
        if key is not None and seq % every == 0:
            cps.append(_checkpoint(key, node, seq, h, e.ts))
    await session.execute(log_t.insert(), rows)
    if cps:
        await session.execute(log_checkpoints_t.insert(), cps)
    await session.execute(update(log_head_t).where(log_head_t.c.id == 1).values(seq=seq, hash=prev))
    return seq


def _checkpoint(key: NodeKey, node: str, seq: int, hash_: str, ts: datetime) -> dict[str, Any]:
    msg = checkpoint_message(seq=seq, hash_=hash_, ts=ts, node=node)
    return {
        "seq": seq,
        "hash": hash_,
        "ts": ts,
        "node": node,
        "key_id": key.key_id,
        "signature": key.sign(msg),
    }


async def checkpoint_now(session: AsyncSession, *, key: NodeKey, node: str, ts: datetime) -> int | None:
    head = (await session.execute(_HEAD.with_for_update())).one()
    if head.seq == 0:
        return None
    exists = await session.scalar(select(log_checkpoints_t.c.seq).where(log_checkpoints_t.c.seq == head.seq))
    if exists is None:
        await session.execute(log_checkpoints_t.insert(), [_checkpoint(key, node, head.seq, head.hash, ts)])
    return int(head.seq)


class MessageLog:
    """The node's writer: `await log.write(entry)` returns once the entry is committed in some batch
    (the kernel's group-commit writer: one transaction per batch of concurrent calls)."""

    def __init__(self, db: Database, *, key: NodeKey | None, node: str, every: int = 1000) -> None:
        self._key, self._node, self._every = key, node, every
        self._writer: GroupCommitWriter[LogEntry] = GroupCommitWriter(db, self._write_batch)

    async def write(self, entry: LogEntry) -> None:
        await self._writer.submit([entry])

    async def _write_batch(self, uow: UnitOfWork, entries: list[LogEntry]) -> None:
        await append(uow.session, entries, key=self._key, node=self._node, every=self._every)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    checkpoints: int
    first_bad_seq: int | None = None
    reason: str | None = None


async def _records(conn: AsyncConnection, batch: int = 5000) -> AsyncIterator[Any]:
    last = 0
    while True:
        rows = (
            await conn.execute(select(log_t).where(log_t.c.seq > last).order_by(log_t.c.seq).limit(batch))
        ).all()
        if not rows:
            return
        for r in rows:
            yield r
        last = rows[-1].seq


async def verify(conn: AsyncConnection, *, key: NodeKey | None) -> VerifyResult:
    """Walk the chain from genesis and name the first record that does not fit (changed, missing,
    rehashed, or beyond a checkpoint that no longer matches)."""
    cps = {r.seq: r for r in (await conn.execute(select(log_checkpoints_t))).all()}
    head = (await conn.execute(_HEAD)).one()

    def bad(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(False, max(seq - 1, 0), len(cps), seq, reason)

    expected, prev, vouched = 1, GENESIS_HASH, 0
    async for r in _records(conn):
        if r.seq != expected:
            return bad(expected, f"record {expected} is missing (the next one present is {r.seq})")
        try:
            h = entry_hash(r.seq, r.prev_hash, r)
        except (TypeError, ValueError):
            return bad(r.seq, f"record {r.seq} was changed: its stored values no longer decode")
        if h != r.hash:
            return bad(r.seq, f"record {r.seq} was changed (its content does not match its hash)")
        if r.prev_hash != prev:
            return bad(
                r.seq - 1,
                f"record {r.seq - 1} was changed and its hash recomputed "
                f"(record {r.seq} holds a different hash for it)",
            )
        cp = cps.get(r.seq)
        if cp is not None:
            problem = _checkpoint_problem(cp, key, h, vouched)
            if problem is not None:
                return bad(*problem)
            vouched = r.seq
        prev, expected = h, expected + 1
    count = expected - 1
    problem = _end_problem(head, count, prev, cps)
    return bad(*problem) if problem is not None else VerifyResult(True, count, len(cps))


def _checkpoint_problem(cp: Any, key: NodeKey | None, h: str, vouched: int) -> tuple[int, str] | None:
    """Checkpoint `cp` (at the record whose hash is `h`) forged, or signed over other records."""
    if key is not None and (
        cp.key_id != key.key_id
        or not verify_signature(
            key.public_key,
            cp.signature,
            checkpoint_message(seq=cp.seq, hash_=cp.hash, ts=cp.ts, node=cp.node),
        )
    ):
        return cp.seq, f"the signature of checkpoint {cp.seq} is not valid (forged or altered)"
    if cp.hash != h:
        return (
            vouched + 1,
            f"records {vouched + 1}–{cp.seq} were rewritten: the hash at record "
            f"{cp.seq} is not the one signed in checkpoint {cp.seq}",
        )
    return None


def _end_problem(head: Any, count: int, prev: str, cps: dict[int, Any]) -> tuple[int, str] | None:
    """The log's head row, and checkpoints beyond its end, against the `count` records there."""
    if head.seq > count:
        return count + 1, f"records {count + 1}–{head.seq} are missing: the log ends at record {count}"
    if head.seq < count:
        return head.seq + 1, f"records {head.seq + 1}–{count} were added outside the chain"
    if head.hash != prev:
        return max(count, 1), f"record {count} was changed and its hash recomputed"
    later = [s for s in cps if s > count]
    if later:
        return count + 1, f"records {count + 1}–{max(later)} were deleted: a checkpoint was signed over them"
    return None


def _jsonable(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d["ts"] = _ts_text(d["ts"])
    return d


async def export_jsonl(conn: AsyncConnection, out: TextIO) -> int:
    """The archive: one JSON object per record, then the signed checkpoints (kind "checkpoint"), so the
    file alone lets an auditor recompute the chain and check the node's signatures."""
    n = 0
    async for r in _records(conn):
        out.write(json.dumps({"kind": "record", **_jsonable(r)}, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
    for cp in (await conn.execute(select(log_checkpoints_t).order_by(log_checkpoints_t.c.seq))).all():
        out.write(json.dumps({"kind": "checkpoint", **_jsonable(cp)}, sort_keys=True) + "\n")
    return n


async def export_file(conn: AsyncConnection, path: Path) -> int:
    with path.open("w", encoding="utf-8") as f:
        return await export_jsonl(conn, f)
