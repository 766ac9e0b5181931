"""Nodes sharing one directory: the central node serves it signed, agency nodes fetch and apply it.

An agency node pins the central node's public key (the operator copies it from `dgov exchange
node-key` on the central node); a document whose signature or digest does not verify changes nothing.
Applying makes the document the whole truth for what the centre owns: members, subsystems (with the
node that serves them), keys with their status, services and rights are upserted by address and marked
as the centre's (`origin`, `granted_by` = `central:NODE`); the centre's entries the document no longer
holds are taken away: rights and services deleted, members, subsystems and keys marked revoked, each
listed in the audit record. A revocation at the centre therefore reaches every node on its next sync.
Entries the agency node made itself (no origin) are left alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import delete, select, update

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
    """Make this node's copy of the centre's directory equal to the document; returns counts of what it
    holds and, under `removed`, how many of the centre's entries it took away."""
    require(actor, directory_rows.MANAGE)
    now = clock.now()
    origin = f"{CENTRAL}{doc['node']}"
    counts: dict[str, Any] = {"members": 0, "subsystems": 0, "keys": 0, "services": 0, "rights": 0}
    async with db.uow() as uow:
        s = uow.session
        sub_ids: dict[str, Any] = {}
        seen = Seen()
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
                        origin=origin,
                    )
                )
            else:
                mid = row.id
                await s.execute(
                    update(members_t)
                    .where(members_t.c.id == mid)
                    .values(name=m["name"], status=m["status"], origin=origin)
                )
            seen.members.add(mid)
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
                            origin=origin,
                        )
                    )
                else:
                    sid = srow.id
                    await s.execute(
                        update(subsystems_t)
                        .where(subsystems_t.c.id == sid)
                        .values(status=sub["status"], server_url=sub.get("server_url", ""), origin=origin)
                    )
                sub_ids[sub["address"]] = sid
                seen.subsystems.add(sid)
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
                    seen.keys.add(k["key_id"])
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
                        id=vid,
                        subsystem_id=provider,
                        code=sv["code"],
                        created_at=now,
                        origin=origin,
                        **values,
                    )
                )
            else:
                vid = row.id
                await s.execute(
                    update(services_t).where(services_t.c.id == vid).values(origin=origin, **values)
                )
            svc_ids[sv["address"]] = vid
            seen.services.add(vid)
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
                right_id = new_id()
                await s.execute(
                    rights_t.insert().values(
                        id=right_id,
                        client_id=cid,
                        service_id=right_svc,
                        operation=r["operation"],
                        granted_by=f"central:{doc['node']}",
                        granted_at=now,
                    )
                )
            seen.rights.add(exists.id if exists is not None else right_id)
            counts["rights"] += 1
        removed = await _remove_absent(s, seen)
        counts["removed"] = {kind: len(names) for kind, names in removed.items()}
        if any(removed.values()):
            uow.audit(
                audit_by(
                    actor,
                    action="exchange.directory.removed",
                    object_type="exchange",
                    object_id=str(doc["node"]),
                    details=removed,
                )
            )
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


CENTRAL = "central:"  # prefix of `origin` and `granted_by` on what a sync brought from the centre


@dataclass
class Seen:
    """What the document holds, by row id (key id for keys): the centre's entries not in it go."""

    members: set[Any] = field(default_factory=set)
    subsystems: set[Any] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    services: set[Any] = field(default_factory=set)
    rights: set[Any] = field(default_factory=set)


def _from_centre(column: Any) -> Any:
    return column.like(f"{CENTRAL}%")


async def _remove_absent(s: Any, seen: Seen) -> dict[str, list[str]]:
    """Take away the centre's entries the document no longer holds; returns their addresses by kind
    (for the audit record). Rights and services are deleted (a right to a removed service with them);
    members, subsystems and keys are marked revoked: the message log and audit still name them."""
    m, sub = members_t, subsystems_t
    sub_addr = {
        r.id: f"{r.instance}/{r.member_class}/{r.mcode}/{r.code}"
        for r in (
            await s.execute(
                select(sub.c.id, sub.c.code, m.c.instance, m.c.member_class, m.c.code.label("mcode")).join(
                    m, m.c.id == sub.c.member_id
                )
            )
        ).all()
    }
    svc_addr = {
        r.id: f"{sub_addr[r.subsystem_id]}/{r.code}"
        for r in (
            await s.execute(select(services_t.c.id, services_t.c.subsystem_id, services_t.c.code))
        ).all()
    }
    gone_services = [
        r.id
        for r in (await s.execute(select(services_t.c.id).where(_from_centre(services_t.c.origin)))).all()
        if r.id not in seen.services
    ]
    rights = (
        await s.execute(
            select(rights_t.c.id, rights_t.c.client_id, rights_t.c.service_id, rights_t.c.operation).where(
                _from_centre(rights_t.c.granted_by) | rights_t.c.service_id.in_(gone_services)
            )
        )
    ).all()
    gone_rights = [r for r in rights if r.id not in seen.rights or r.service_id in gone_services]
    if gone_rights:
        await s.execute(delete(rights_t).where(rights_t.c.id.in_([r.id for r in gone_rights])))
    if gone_services:
        await s.execute(delete(services_t).where(services_t.c.id.in_(gone_services)))

    gone_subs = [
        r.id
        for r in (
            await s.execute(select(sub.c.id).where(_from_centre(sub.c.origin), sub.c.status != "revoked"))
        ).all()
        if r.id not in seen.subsystems
    ]
    if gone_subs:
        await s.execute(update(sub).where(sub.c.id.in_(gone_subs)).values(status="revoked"))
    gone_members = (
        await s.execute(
            select(m.c.id, m.c.instance, m.c.member_class, m.c.code).where(
                _from_centre(m.c.origin), m.c.status != "revoked"
            )
        )
    ).all()
    gone_members = [r for r in gone_members if r.id not in seen.members]
    if gone_members:
        await s.execute(update(m).where(m.c.id.in_([r.id for r in gone_members])).values(status="revoked"))
    # Keys of the centre's subsystems that the document does not list (or whose subsystem went).
    keys = (
        await s.execute(
            select(keys_t.c.key_id)
            .join(sub, sub.c.id == keys_t.c.subsystem_id)
            .where(
                _from_centre(sub.c.origin), keys_t.c.status != "revoked", keys_t.c.private_sealed.is_(None)
            )
        )
    ).all()
    gone_keys = [r.key_id for r in keys if r.key_id not in seen.keys]
    if gone_keys:
        await s.execute(
            update(keys_t)
            .where(keys_t.c.key_id.in_(gone_keys))
            .values(status="revoked", revoked_at=clock.now())
        )
    return {
        "rights": sorted(
            f"{sub_addr[r.client_id]} -> {svc_addr[r.service_id]}"
            + (f" ({r.operation})" if r.operation else "")
            for r in gone_rights
        ),
        "services": sorted(svc_addr[i] for i in gone_services),
        "subsystems": sorted(sub_addr[i] for i in gone_subs),
        "members": sorted(f"{r.instance}/{r.member_class}/{r.code}" for r in gone_members),
        "keys": sorted(gone_keys),
    }


def service_url(doc_or_services: list[dict[str, Any]], service: str) -> str:
    """The base URL of the node serving `service` (from `directory_services.services` or a synced
    document)."""
    sv = service_id(service)
    for s in doc_or_services:
        if s["address"] == str(sv):
            return str(s.get("server_url") or "")
    subsystem_id(str(sv.subsystem))
    return ""
