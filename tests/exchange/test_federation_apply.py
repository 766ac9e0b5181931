"""Applying the centre's signed directory on an agency node: the document is the whole truth for what
the centre owns. A right, service, subsystem, key or member the centre took away is removed or revoked
on the next sync, with an audit record naming each; what the agency node made itself stays. Both
databases, without the slow three-node harness (tests/exchange/test_federation.py)."""

from __future__ import annotations

import copy
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from dgov.exchange import directory, directory_rights, httpsig
from dgov.exchange.addresses import subsystem_id
from dgov.exchange.federation import apply_document
from dgov.exchange.gateway_lookup import DirectoryLookups
from dgov.identity import SYSTEM
from dgov.kernel.models import audit_records
from dgov.web.runtime import Runtime

POPULATION = "VN/GOV/BCA/CSDLQGDC/population"
HOTICH = "VN/GOV/BTP/HOTICH"
KEYS = {code: Ed25519PrivateKey.generate() for code in ("HOTICH", "CSDLQGDC", "HOTICH-2")}


def key_entry(code: str) -> dict[str, Any]:
    public = KEYS[code].public_key()
    return {
        "key_id": httpsig.jwk_thumbprint(public),
        "alg": "ed25519",
        "status": "active",
        "public_key": httpsig.public_pem(public),
    }


def member(code: str, name: str, subsystems: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "address": f"VN/GOV/{code}",
        "instance": "VN",
        "class": "GOV",
        "code": code,
        "name": name,
        "status": "active",
        "subsystems": [
            {
                "address": f"VN/GOV/{code}/{sub}",
                "code": sub,
                "status": "active",
                "server_url": "http://127.0.0.1:9",
                "keys": [key_entry(k) for k in keys],
            }
            for sub, keys in subsystems.items()
        ],
    }


def centre_document() -> dict[str, Any]:
    ops = [{"id": "getRecord", "method": "GET", "path": "/records/{key}"}]
    return {
        "instance": "VN",
        "node": "central",
        "issued_at": "2026-01-05T08:00:00+07:00",
        "members": [
            member("BTP", "Bộ Tư pháp", {"HOTICH": ["HOTICH", "HOTICH-2"]}),
            member("BCA", "Bộ Công an", {"CSDLQGDC": ["CSDLQGDC"]}),
            member("BXD", "Bộ Xây dựng", {"CAPPHEP": []}),
        ],
        "services": [
            {
                "address": POPULATION,
                "subsystem": "VN/GOV/BCA/CSDLQGDC",
                "code": "population",
                "title": "Dân cư",
                "kind": "registry",
                "target": "population",
                "operations_raw": ops,
                "openapi": {},
            }
        ],
        "rights": [{"client": HOTICH, "service": POPULATION, "operation": ""}],
    }


async def rights_of(rt: Runtime) -> set[tuple[str, str, str]]:
    return {(r["client"], r["service"], r["granted_by"]) for r in await directory_rights.rights(rt.db)}


async def test_what_the_centre_takes_away_is_taken_away_on_the_agency_node(runtime: Runtime) -> None:
    doc = centre_document()
    counts = await apply_document(runtime.db, SYSTEM, doc)
    assert (counts["members"], counts["rights"], counts["removed"]["rights"]) == (3, 1, 0)
    assert await rights_of(runtime) == {(HOTICH, POPULATION, "central:central")}

    # The agency node's own subsystem and the right its operator granted it are not the centre's.
    await directory.add_member(
        runtime.db, SYSTEM, instance="VN", member_class="GOV", code="UBND", name="UBND"
    )
    await directory.add_subsystem(
        runtime.db,
        SYSTEM,
        member="GOV/UBND",
        code="MOTCUA",
        public_key_pem=httpsig.public_pem(Ed25519PrivateKey.generate().public_key()),
        instance="VN",
    )
    await directory_rights.grant(runtime.db, SYSTEM, client="VN/GOV/UBND/MOTCUA", service=POPULATION)

    # The centre revokes the right, drops BXD and one of HOTICH's two keys.
    later = copy.deepcopy(doc)
    later["rights"] = []
    later["members"] = [m for m in later["members"] if m["code"] != "BXD"]
    later["members"][0]["subsystems"][0]["keys"] = [key_entry("HOTICH")]
    counts = await apply_document(runtime.db, SYSTEM, later)
    assert counts["removed"] == {"rights": 1, "services": 0, "subsystems": 1, "members": 1, "keys": 1}

    assert {(c, s) for c, s, _ in await rights_of(runtime)} == {("VN/GOV/UBND/MOTCUA", POPULATION)}
    lookups = DirectoryLookups(runtime.db)
    hotich = await lookups.client(subsystem_id(HOTICH))
    assert hotich is not None and hotich.status == "active"
    dropped_key = key_entry("HOTICH-2")["key_id"]
    assert (
        hotich.keys[dropped_key][2] == "revoked" and hotich.keys[key_entry("HOTICH")["key_id"]][2] == "active"
    )
    members = {m["code"]: m for m in await directory.members(runtime.db)}
    assert members["BXD"]["status"] == "revoked" and members["BXD"]["subsystems"][0]["status"] == "revoked"
    assert members["UBND"]["status"] == "active"  # never the centre's: untouched

    async with runtime.db.uow(readonly=True) as uow:
        [removed] = (
            await uow.session.execute(
                select(audit_records.c.details).where(audit_records.c.action == "exchange.directory.removed")
            )
        ).all()
    assert removed.details == {
        "rights": [f"{HOTICH} -> {POPULATION}"],
        "services": [],
        "subsystems": ["VN/GOV/BXD/CAPPHEP"],
        "members": ["VN/GOV/BXD"],
        "keys": [dropped_key],
    }

    # A service the centre withdraws goes, and with it every right to it, the agency's own included.
    gone = copy.deepcopy(later)
    gone["services"] = []
    counts = await apply_document(runtime.db, SYSTEM, gone)
    assert counts["removed"]["services"] == 1 and counts["removed"]["rights"] == 1
    assert await rights_of(runtime) == set()
