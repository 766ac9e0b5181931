"""Nodes sharing one directory: the central node serves it signed, agency nodes fetch and apply it.

An agency node pins the central node's public key (the operator copies it from `dgov exchange
node-key` on the central node); a document whose signature or digest does not verify changes nothing.
Applying is an upsert by address: members, subsystems (with the node that serves them), keys with
their status (a revocation at the centre reaches every node on its next sync), services and rights.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select, update

from dgov.exchange import directory, directory_rights, directory_rows, directory_services, httpsig
from dgov.exchange.addresses import service_id, subsystem_id
from dgov.exchange.models import keys_t, members_t, rights_t, services_t, subsystems_t
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import ServiceUnavailable, Unauthenticated
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database


async def directory_document(db: Database, *, instance: str, node: str) -> dict[str, Any]:
    members = await directory.members(db)
    services = await directory_services.services(db)
    async with db.uow(readonly=True) as uow:
        full = {
            r.id: (r.openapi, r.operations)
            for r in (
                await uow.session.execute(
                    select(services_t.c.id, services_t.c.openapi, services_t.c.operations)
                )
            ).all()
        }
        ids = {
            f"{r.instance}/{r.member_class}/{r.mcode}/{r.scode}/{r.code}": r.id
            for r in (await uow.session.execute(directory_services.service_query())).all()
        }
    for s in services:
        s["openapi"], s["operations_raw"] = full[ids[s["address"]]]
    return {
        "instance": instance,
        "node": node,
        "issued_at": clock.now().isoformat(),
        "members": members,
        "services": services,
        "rights": await directory_rights.rights(db),
    }


def verify_document(
    status: int, headers: dict[str, str], body: bytes, url: str, central_key_pem: str
) -> dict[str, Any]:
    key = httpsig.load_public_pem(central_key_pem)
    try:
        httpsig.check_content_digest(headers.get("content-digest"), body)
        httpsig.verify(
            httpsig.Message(
                status=status,
                headers=headers,
                request=httpsig.Message(method="GET", target_uri=url, headers={}),
            ),
            resolve=lambda _kid: (key, httpsig.algorithm_of(key)),
            required=("@status", "content-digest"),
            now=int(clock.now().timestamp()),
            require_nonce=False,
        )
    except httpsig.SignatureError as exc:
        raise Unauthenticated(
            "The directory document is not signed by the central node: {why}", params={"why": str(exc)}
        ) from exc
    doc: dict[str, Any] = json.loads(body)
    return doc


async def fetch_directory(central_url: str, central_key_pem: str) -> dict[str, Any]:
    url = central_url.rstrip("/") + "/api/exchange/v1/directory"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(url)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            "The central node {url} cannot be reached", params={"url": central_url}
        ) from exc
    if r.status_code != 200:
        raise ServiceUnavailable(
            "The central node {url} answered {status}", params={"url": central_url, "status": r.status_code}
        )
    return verify_document(200, httpsig.headers_of(r.headers.items()), r.content, url, central_key_pem)


async def apply_document(db: Database, actor: Principal, doc: dict[str, Any]) -> dict[str, int]:
    """Upsert the central directory into this node's; returns counts of what it holds."""
    require(actor, directory_rows.MANAGE)
    now = clock.now()
    counts = {"members": 0, "subsystems": 0, "keys": 0, "services": 0, "rights": 0}
    async with db.uow() as uow:
        s = uow.session
        sub_ids: dict[str, Any] = {}
        for m in doc["members"]:
            row = (
                await s.execute(
                    select(members_t.c.id).where(
                        members_t.c.instance == m["instance"],
                        members_t.c.member_class == m["class"],
                        members_t.c.code == m["code"],
                    )
                )
            ).first()
            if row is None:
                mid = new_id()
                await s.execute(
                    members_t.insert().values(
                        id=mid,
                        instance=m["instance"],
                        member_class=m["class"],
                        code=m["code"],
                        name=m["name"],
                        status=m["status"],
                        created_at=now,
                    )
                )
            else:
                mid = row.id
                await s.execute(
                    update(members_t).where(members_t.c.id == mid).values(name=m["name"], status=m["status"])
                )
            counts["members"] += 1
            for sub in m["subsystems"]:
                srow = (
                    await s.execute(
                        select(subsystems_t.c.id).where(
                            subsystems_t.c.member_id == mid, subsystems_t.c.code == sub["code"]
                        )
                    )
                ).first()
                if srow is None:
                    sid = new_id()
                    await s.execute(
                        subsystems_t.insert().values(
                            id=sid,
                            member_id=mid,
                            code=sub["code"],
                            status=sub["status"],
                            server_url=sub.get("server_url", ""),
                            created_at=now,
                        )
                    )
                else:
                    sid = srow.id
                    await s.execute(
                        update(subsystems_t)
                        .where(subsystems_t.c.id == sid)
                        .values(status=sub["status"], server_url=sub.get("server_url", ""))
                    )
                sub_ids[sub["address"]] = sid
                counts["subsystems"] += 1
                for k in sub["keys"]:
                    krow = (
                        await s.execute(select(keys_t.c.subsystem_id).where(keys_t.c.key_id == k["key_id"]))
                    ).first()
                    if krow is None:
                        await s.execute(
                            keys_t.insert().values(
                                key_id=k["key_id"],
                                subsystem_id=sid,
                                alg=k["alg"],
                                public_pem=k["public_key"],
                                private_sealed=None,
                                status=k["status"],
                                created_at=now,
                            )
                        )
                    elif krow.subsystem_id == sid:
                        await s.execute(
                            update(keys_t).where(keys_t.c.key_id == k["key_id"]).values(status=k["status"])
                        )
                    counts["keys"] += 1
        svc_ids: dict[str, Any] = {}
        for sv in doc["services"]:
            provider = sub_ids.get(sv["subsystem"])
            if provider is None:
                continue
            values = dict(
                title=sv["title"],
                kind=sv["kind"],
                target=sv["target"],
                operations=sv["operations_raw"],
                openapi=sv["openapi"],
            )
            row = (
                await s.execute(
                    select(services_t.c.id).where(
                        services_t.c.subsystem_id == provider, services_t.c.code == sv["code"]
                    )
                )
            ).first()
            if row is None:
                vid = new_id()
                await s.execute(
                    services_t.insert().values(
                        id=vid, subsystem_id=provider, code=sv["code"], created_at=now, **values
                    )
                )
            else:
                vid = row.id
                await s.execute(update(services_t).where(services_t.c.id == vid).values(**values))
            svc_ids[sv["address"]] = vid
            counts["services"] += 1
        for r in doc["rights"]:
            cid, right_svc = sub_ids.get(r["client"]), svc_ids.get(r["service"])
            if cid is None or right_svc is None:
                continue
            exists = (
                await s.execute(
                    select(rights_t.c.id).where(
                        rights_t.c.client_id == cid,
                        rights_t.c.service_id == right_svc,
                        rights_t.c.operation == r["operation"],
                    )
                )
            ).first()
            if exists is None:
                await s.execute(
                    rights_t.insert().values(
                        id=new_id(),
                        client_id=cid,
                        service_id=right_svc,
                        operation=r["operation"],
                        granted_by=f"central:{doc['node']}",
                        granted_at=now,
                    )
                )
            counts["rights"] += 1
        uow.audit(
            audit_by(
                actor,
                action="exchange.directory.synced",
                object_type="exchange",
                object_id=str(doc["node"]),
                details=counts,
            )
        )
        await uow.commit()
    directory_rows.changed()
    return counts


def service_url(doc_or_services: list[dict[str, Any]], service: str) -> str:
    """The base URL of the node serving `service` (from `directory_services.services` or a synced
    document)."""
    sv = service_id(service)
    for s in doc_or_services:
        if s["address"] == str(sv):
            return str(s.get("server_url") or "")
    subsystem_id(str(sv.subsystem))
    return ""
