"""The member-facing pub/sub API: a member's subsystem, signing with its registered key exactly as at the
gateway, manages its own subscriptions, sees its deliveries and dead letters, redelivers and replays."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import AsyncClient
from pubsub_support import Receiver, drain

from dgov.exchange import directory, httpsig, pubsub
from dgov.identity import SYSTEM
from dgov.kernel import clock
from dgov.kernel.outbox import Dispatcher
from dgov.web.runtime import Runtime

BASE = "http://testserver"


class Member:
    def __init__(self, client: str, key: Ed25519PrivateKey, keyid: str) -> None:
        self.client, self.key, self.keyid = client, key, keyid

    def headers(
        self, method: str, path: str, body: bytes = b"", *, nonce: str | None = None
    ) -> dict[str, str]:
        h = {
            "information-mediator-client": self.client,
            "content-digest": httpsig.content_digest(body),
            "content-type": "application/json",
        }
        msg = httpsig.Message(method=method, target_uri=BASE + path, headers=h)
        h.update(
            httpsig.sign(
                msg,
                key=self.key,
                keyid=self.keyid,
                components=("@method", "@target-uri", "content-digest", "information-mediator-client"),
                created=int(clock.now().timestamp()),
                nonce=nonce or uuid.uuid4().hex,
            )
        )
        return h


async def member(rt: Runtime, code: str, sub: str) -> Member:
    await directory.add_member(
        rt.db, SYSTEM, instance="VN", member_class="GOV", code=code, name=f"Agency {code}"
    )
    key = Ed25519PrivateKey.generate()
    new = await directory.add_subsystem(
        rt.db,
        SYSTEM,
        member=f"GOV/{code}",
        code=sub,
        public_key_pem=httpsig.public_pem(key.public_key()),
        instance="VN",
    )
    return Member(f"VN/GOV/{code}/{sub}", key, new.key_id)


async def call(c: AsyncClient, m: Member, method: str, path: str, data: Any = None) -> Any:
    body = json.dumps(data).encode() if data is not None else b""
    return await c.request(method, path, content=body, headers=m.headers(method, path, body))


@pytest.fixture
async def bhxh(runtime: Runtime) -> Member:
    return await member(runtime, "BHXH", "BHYT")


async def test_a_member_subscribes_and_manages_its_deliveries(
    client: AsyncClient, runtime: Runtime, bhxh: Member, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    r = await call(
        client,
        bhxh,
        "POST",
        "/api/exchange/v1/subscriptions",
        {
            "event_type": "person.died",
            "url": receiver.url,
            "filters": {"province_code": "79"},
            "max_attempts": 2,
        },
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["member"], sub["subsystem"], sub["created_by"]) == (
        "GOV/BHXH",
        "BHYT",
        "client:VN/GOV/BHXH/BHYT",
    )

    r = await call(client, bhxh, "GET", "/api/exchange/v1/subscriptions")
    assert [s["id"] for s in r.json()] == [sub["id"]]

    receiver.always_fail = True
    async with runtime.db.uow() as uow:
        ev = await pubsub.publish_event(
            uow,
            "person.died",
            {"id_number": "079085001234", "death_date": "2026-11-01", "province_code": "79"},
        )
        await uow.commit()
    await drain(dispatcher)
    r = await call(client, bhxh, "GET", f"/api/exchange/v1/subscriptions/{sub['id']}/deliveries?status=dead")
    [dead] = r.json()
    assert dead["offset"] == ev.offset and dead["attempts"] == 2 and dead["last_status"] == 500
    r = await call(client, bhxh, "GET", f"/api/exchange/v1/deliveries/{dead['id']}/attempts")
    assert [a["outcome"] for a in r.json()] == ["retry", "dead"]

    receiver.always_fail = False
    r = await call(client, bhxh, "POST", f"/api/exchange/v1/deliveries/{dead['id']}/redeliver")
    assert r.status_code == 202
    await drain(dispatcher)
    r = await call(
        client, bhxh, "POST", f"/api/exchange/v1/subscriptions/{sub['id']}/replay", {"from_offset": 0}
    )
    assert r.status_code == 202 and r.json()["queued"] == 1
    await drain(dispatcher)
    assert [json.loads(g.body)["id"] for g in receiver.got[-2:]] == [str(ev.id)] * 2

    r = await call(client, bhxh, "DELETE", f"/api/exchange/v1/subscriptions/{sub['id']}")
    assert r.status_code == 204
    r = await call(client, bhxh, "GET", f"/api/exchange/v1/subscriptions/{sub['id']}")
    assert r.json()["status"] == "disabled"


async def test_another_member_cannot_touch_it(
    client: AsyncClient, runtime: Runtime, bhxh: Member, receiver: Receiver
) -> None:
    other = await member(runtime, "BCA", "CUTRU")
    r = await call(
        client,
        bhxh,
        "POST",
        "/api/exchange/v1/subscriptions",
        {"event_type": "person.born", "url": receiver.url},
    )
    sub_id = r.json()["id"]
    for method, path, data in [
        ("GET", f"/api/exchange/v1/subscriptions/{sub_id}", None),
        ("DELETE", f"/api/exchange/v1/subscriptions/{sub_id}", None),
        ("POST", f"/api/exchange/v1/subscriptions/{sub_id}/replay", {"from_offset": 0}),
        ("GET", f"/api/exchange/v1/subscriptions/{sub_id}/deliveries", None),
    ]:
        r = await call(client, other, method, path, data)
        assert r.status_code == 403, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await call(client, other, "GET", "/api/exchange/v1/subscriptions")
    assert r.json() == []


async def test_unsigned_replayed_or_bad_requests_are_refused(
    client: AsyncClient, bhxh: Member, receiver: Receiver
) -> None:
    r = await client.get("/api/exchange/v1/subscriptions")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")

    path = "/api/exchange/v1/subscriptions"
    headers = bhxh.headers("GET", path, nonce="once-only-nonce-1")
    assert (await client.get(path, headers=headers)).status_code == 200
    again = await client.get(path, headers=headers)
    assert again.status_code == 401  # the same nonce: a replay

    forged = bhxh.headers("GET", path)
    forged["information-mediator-client"] = "VN/GOV/BHXH/OTHER"
    assert (await client.get(path, headers=forged)).status_code in (401, 404)

    r = await call(
        client, bhxh, "POST", path, {"event_type": "person.born", "url": "nope", "filters": {"x y": "1"}}
    )
    assert r.status_code == 422
    problem = r.json()
    assert problem["status"] == 422 and {e["loc"][0] for e in problem["errors"]} >= {"url", "filters"}

    r = await client.get("/api/exchange/v1/event-types")
    assert {t["name"] for t in r.json()} >= {
        "person.born",
        "person.died",
        "residence.changed",
        "marriage.registered",
    }
