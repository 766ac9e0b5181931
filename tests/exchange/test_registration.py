"""Registration by another node: signed with the key being registered, pending until the operator
approves it; a pending subsystem is unknown to the gateway."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exkit import AN, INSTANCE, POPULATION, PURPOSE
from httpx import AsyncClient

from dgov.exchange import directory, directory_rights, httpsig
from dgov.exchange.client import Signer
from dgov.identity import SYSTEM
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
