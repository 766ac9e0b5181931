"""Events from other nodes (federation): an operator trusts a peer node's key, a subscription on that node
points its webhook at this node's `/api/exchange/v1/inbox`, and every delivery whose digest and
signature verify against a trusted node key is kept once (by event id) in `exchange_inbox`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from dgov.exchange import httpsig, webhooks
from dgov.exchange.pubsub_models import inbox_t, trusted_nodes_t
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.uow import Database


@dataclass(frozen=True)
class Received:
    event_id: uuid.UUID
    type: str
    source: str
    offset: int
    new: bool


async def trust_node(db: Database, principal: Principal, *, name: str, public_pem: str) -> str:
    """Accept signed event deliveries from the node holding this key; returns the key id."""
    require(principal, "exchange.events.manage")
    errors = []
    if not name.strip() or len(name) > 100:
        errors.append(FieldError(("name",), "This field is required"))
    try:
        key = httpsig.load_public_pem(public_pem)
    except (ValueError, TypeError):
        errors.append(FieldError(("public_key",), "Not an Ed25519 or P-256 public key in PEM"))
    if errors:
        raise ValidationFailed(errors=errors)
    key_id = httpsig.jwk_thumbprint(key)
    async with db.uow() as uow:
        found = await uow.session.scalar(
            select(trusted_nodes_t.c.key_id).where(trusted_nodes_t.c.key_id == key_id)
        )
        if found is not None:
            raise Conflict("This key is already registered ({key_id})", params={"key_id": key_id})
        await uow.session.execute(
            insert(trusted_nodes_t).values(
                key_id=key_id, name=name.strip(), public_pem=httpsig.public_pem(key), created_at=clock.now()
            )
        )
        uow.audit(
            audit_by(
                principal,
                action="exchange.node.trusted",
                object_type="exchange_node",
                object_id=key_id,
                details={"name": name.strip()},
            )
        )
        await uow.commit()
    return key_id


async def receive(db: Database, *, url: str, headers: Mapping[str, str], body: bytes) -> Received:
    """Check a delivery against the trusted node keys and keep it; raises httpsig.SignatureError."""
    h = httpsig.headers_of(headers)
    _label, covered, _sig, _in, _text = httpsig.parse_signature(h)
    keyid = covered.params.get("keyid")
    async with db.uow(readonly=True) as uow:
        pem = await uow.session.scalar(
            select(trusted_nodes_t.c.public_pem).where(trusted_nodes_t.c.key_id == keyid)
        )
    if pem is None:
        raise httpsig.SignatureError(
            "unknown-key", "the delivery is signed by a node this node does not trust"
        )
    event_id = uuid.UUID(webhooks.verify_delivery(url=url, headers=h, body=body, node_public_pem=pem))
    try:
        env: dict[str, Any] = json.loads(body)
    except ValueError as exc:
        raise httpsig.SignatureError("body-malformed", "the body is not a JSON event") from exc
    if str(env.get("id")) != str(event_id):
        raise httpsig.SignatureError("body-malformed", "the body's id is not the signed event id")
    async with db.uow() as uow:
        have = await uow.session.scalar(select(inbox_t.c.event_id).where(inbox_t.c.event_id == event_id))
        if have is None:
            await uow.session.execute(
                insert(inbox_t).values(
                    event_id=event_id,
                    sender_key_id=str(keyid),
                    source=str(env.get("source", ""))[:200],
                    type=str(env.get("type", ""))[:100],
                    stream_offset=int(env.get("dgovoffset") or 0),
                    subject=(str(env["subject"])[:64] if env.get("subject") else None),
                    envelope=env,
                    received_at=clock.now(),
                )
            )
            await uow.commit()
    return Received(
        event_id, str(env.get("type")), str(env.get("source")), int(env.get("dgovoffset") or 0), have is None
    )


async def inbox(db: Database, principal: Principal, *, limit: int = 100) -> list[dict[str, Any]]:
    require(principal, "exchange.events.manage")
    async with db.uow(readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(inbox_t).order_by(inbox_t.c.received_at.desc()).limit(max(1, min(limit, 1000)))
            )
        ).all()
    return [
        {
            "event_id": str(r.event_id),
            "type": r.type,
            "source": r.source,
            "offset": r.stream_offset,
            "sender_key_id": r.sender_key_id,
            "received_at": r.received_at.isoformat(),
            "event": r.envelope,
        }
        for r in rows
    ]
