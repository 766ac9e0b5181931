"""Events from another node: accepted into the inbox only when signed by a trusted node key, once each."""

from __future__ import annotations

import json
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import AsyncClient

from dgov.exchange import pubsub_inbox, webhooks
from dgov.identity import SYSTEM
from dgov.kernel.keys import NodeKey
from dgov.web.runtime import Runtime

URL = "http://testserver/api/exchange/v1/inbox"


def delivery(key: NodeKey, event_id: str | None = None) -> tuple[dict[str, str], bytes]:
    env = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "type": "person.born",
        "source": "VN/GOV/BTP",
        "dgovoffset": 7,
        "data": {"id_number": "001226000555", "full_name": "Vũ Minh Anh", "birth_date": "2026-11-05"},
    }
    body = webhooks.body_of(env)
    return webhooks.sign_delivery(URL, body, env["id"], key, nonce=uuid.uuid4().hex), body


async def test_a_trusted_peer_delivers_once(client: AsyncClient, runtime: Runtime) -> None:
    peer = NodeKey(Ed25519PrivateKey.generate())
    stranger = NodeKey(Ed25519PrivateKey.generate())
    key_id = await pubsub_inbox.trust_node(runtime.db, SYSTEM, name="node-btp", public_pem=peer.public_pem())
    assert key_id == peer.key_id

    headers, body = delivery(peer)
    r = await client.post(URL, content=body, headers=headers)
    assert r.status_code == 200 and r.json()["new"] is True
    r = await client.post(URL, content=body, headers=delivery(peer, json.loads(body)["id"])[0])
    assert r.status_code == 200 and r.json()["new"] is False  # a redelivery

    headers, body = delivery(stranger)
    assert (await client.post(URL, content=body, headers=headers)).status_code == 401
    headers, body = delivery(peer)
    r = await client.post(URL, content=body.replace(b"Anh", b"Em"), headers=headers)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")

    rows = await pubsub_inbox.inbox(runtime.db, SYSTEM)
    assert len(rows) == 1 and rows[0]["sender_key_id"] == peer.key_id and rows[0]["offset"] == 7
