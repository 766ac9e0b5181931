"""Registration by another node: signed with the key being registered, pending until the operator
approves it; a pending subsystem is unknown to the gateway."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exkit import AN, INSTANCE, POPULATION, PURPOSE, App
from httpx import AsyncClient
from sqlalchemy import select

from dgov.exchange import directory, directory_rights, httpsig
from dgov.exchange.client import Signer
from dgov.identity import SYSTEM
from dgov.kernel.models import audit_records
from dgov.web.runtime import Runtime

BASE = "http://testserver"
ADDRESS = f"{INSTANCE}/GOV/BXD/CAPPHEP"


async def test_register_wait_for_approval_then_call(xrt: Runtime, client: AsyncClient) -> None:
    key = Ed25519PrivateKey.generate()
    body = json.dumps(
        {
            "member_class": "GOV",
            "member_code": "BXD",
            "member_name": "Bộ Xây dựng",
            "subsystem_code": "CAPPHEP",
            "public_key": httpsig.public_pem(key.public_key()),
            "server_url": "http://127.0.0.1:9",
        }
    ).encode()
    url = f"{BASE}/api/exchange/v1/registrations"

    other = Ed25519PrivateKey.generate()  # signed with another key than the one registered: refused
    forged = Signer(ADDRESS, other).sign("POST", url, body=body, content_type="application/json")
    r = await client.post(url, headers=forged.headers, content=body)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")

    signed = Signer(ADDRESS, key).sign("POST", url, body=body, content_type="application/json")
    r = await client.post(url, headers=signed.headers, content=body)
    assert r.status_code == 202, r.text
    assert r.json() == {
        "subsystem": ADDRESS,
        "key_id": httpsig.jwk_thumbprint(key.public_key()),
        "status": "pending",
    }
    member = next(m for m in await directory.members(xrt.db) if m["code"] == "BXD")
    assert member["status"] == "pending" and member["subsystems"][0]["status"] == "pending"

    await directory_rights.grant(xrt.db, SYSTEM, client=ADDRESS, service=POPULATION)
    call = Signer(ADDRESS, key).sign("GET", f"{BASE}/r1/{POPULATION}/records/{AN}", purpose=PURPOSE)
    r = await client.get(call.url, headers=call.headers)
    assert r.status_code == 404 and r.json()["code"] == "unknown-client"  # not approved yet

    await directory.approve(xrt.db, SYSTEM, ADDRESS)
    call = Signer(ADDRESS, key).sign("GET", f"{BASE}/r1/{POPULATION}/records/{AN}", purpose=PURPOSE)
    r = await client.get(call.url, headers=call.headers)
    assert r.status_code == 200, r.text


def registration_body(key: Ed25519PrivateKey, *, member_code: str, subsystem: str) -> bytes:
    return json.dumps(
        {
            "member_class": "GOV",
            "member_code": member_code,
            "member_name": "Bộ Tư pháp",
            "subsystem_code": subsystem,
            "public_key": httpsig.public_pem(key.public_key()),
        }
    ).encode()


async def registration_audits(rt: Runtime, subsystem: str) -> list[Any]:
    async with rt.db.uow(readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(audit_records.c.action, audit_records.c.details).where(
                    audit_records.c.object_id == subsystem
                )
            )
        ).all()
    return [r for r in rows if r.action.startswith("exchange.registration")]


async def test_a_registration_under_an_existing_member_must_be_signed_by_that_member(
    xrt: Runtime, client: AsyncClient, app_ed: App
) -> None:
    """GOV/BTP is in the directory (app_ed is one of its subsystems). A stranger's registration of a new
    subsystem under it, signed only with the stranger's own key, is refused and queues nothing; signed
    also by another member's key, refused too; countersigned with a BTP key, it waits for the operator."""
    url = f"{BASE}/api/exchange/v1/registrations"
    address = f"{INSTANCE}/GOV/BTP/HOTICH2"
    key = Ed25519PrivateKey.generate()
    body = registration_body(key, member_code="BTP", subsystem="HOTICH2")
    alone = Signer(address, key).sign("POST", url, body=body, content_type="application/json")
    r = await client.post(url, headers=alone.headers, content=body)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "member-signature-required"

    other_member = Ed25519PrivateKey.generate()
    await directory.add_member(
        xrt.db, SYSTEM, member_class="GOV", code="BXD", name="Bộ Xây dựng", instance=INSTANCE
    )
    other = await directory.add_subsystem(
        xrt.db,
        SYSTEM,
        member="GOV/BXD",
        code="APP-BXD",
        public_key_pem=httpsig.public_pem(other_member.public_key()),
        instance=INSTANCE,
    )
    wrong = Signer(f"{INSTANCE}/GOV/BXD/APP-BXD", other_member, other.key_id).countersign(
        Signer(address, key).sign("POST", url, body=body, content_type="application/json")
    )
    r = await client.post(url, headers=wrong.headers, content=body)
    assert r.status_code == 401 and r.json()["code"] == "member-signature-required", r.text

    members = {m["code"]: m for m in await directory.members(xrt.db)}
    assert "HOTICH2" not in [s["code"] for s in members["BTP"]["subsystems"]]
    assert await registration_audits(xrt, address) == []

    good = Signer(app_ed.client, app_ed.key, app_ed.keyid).countersign(
        Signer(address, key).sign("POST", url, body=body, content_type="application/json")
    )
    r = await client.post(url, headers=good.headers, content=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    [(action, details)] = await registration_audits(xrt, address)
    assert action == "exchange.registration.submitted" and details["member_key_id"] == app_ed.keyid
    members = {m["code"]: m for m in await directory.members(xrt.db)}
    [sub] = [s for s in members["BTP"]["subsystems"] if s["code"] == "HOTICH2"]
    assert sub["status"] == "pending" and members["BTP"]["status"] == "active"

    await directory.approve(xrt.db, SYSTEM, address)  # the operator approves as before
    members = {m["code"]: m for m in await directory.members(xrt.db)}
    [sub] = [s for s in members["BTP"]["subsystems"] if s["code"] == "HOTICH2"]
    assert sub["status"] == "active"
