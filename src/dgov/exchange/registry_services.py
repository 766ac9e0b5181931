"""The base registries' read services, published as exchange services of the agency owning each one
(the owner named in the registry schema's `x-dgov.owner.member`)."""

from __future__ import annotations

from typing import Any

from dgov.exchange import directory, directory_rights, directory_services
from dgov.identity import Principal
from dgov.kernel.uow import Database
from dgov.registries import registry_catalogue

# The subsystem serving each owner's registries. Codes follow the databases' Vietnamese names:
# CSDLQGDC = Cơ sở dữ liệu quốc gia về dân cư (population and residence, Ministry of Public Security),
# HOTICH = civil status (hộ tịch), CSDLBH = insurance database, CSDLGD = education, DKKD = business
# registration (đăng ký kinh doanh), CSDLDD = land (đất đai).
PROVIDER_SUBSYSTEM = {
    "BCA": "CSDLQGDC",
    "BTP": "HOTICH",
    "BHXH": "CSDLBH",
    "BGDDT": "CSDLGD",
    "BTC": "DKKD",
    "BNNMT": "CSDLDD",
}

OPERATIONS = [
    {"id": "getRecord", "method": "GET", "path": "/records/{key}"},
    {"id": "recordExists", "method": "GET", "path": "/records/{key}/exists"},
]


def owners() -> dict[str, str]:
    """registry name → owning member code."""
    out = {}
    for name, versions in registry_catalogue().items():
        reg = versions[max(versions)]
        out[name] = str(reg.meta["owner"]["member"])
    return out


def openapi(registry: str) -> dict[str, Any]:
    versions = registry_catalogue()[registry]
    reg = versions[max(versions)]
    title = reg.title("en")
    key_param = {
        "name": "key",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": f"The record's {reg.key_field}",
    }
    headers = [
        {"name": "X-Dgov-Purpose", "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": "X-Dgov-Subject", "in": "header", "required": False, "schema": {"type": "string"}},
        {"name": "X-Dgov-Dossier", "in": "header", "required": False, "schema": {"type": "string"}},
    ]
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{title} — read service", "version": str(reg.version)},
        "paths": {
            "/records/{key}": {
                "get": {
                    "operationId": "getRecord",
                    "parameters": [
                        key_param,
                        *headers,
                        {
                            "name": "fields",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "Comma-separated fields",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The current record",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "registry": {"type": "string"},
                                            "key": {"type": "string"},
                                            "version": {"type": "integer"},
                                            "data": reg.schema,
                                        },
                                    }
                                }
                            },
                        },
                        "404": {"description": "No such record"},
                    },
                }
            },
            "/records/{key}/exists": {
                "get": {
                    "operationId": "recordExists",
                    "parameters": [key_param],
                    "responses": {"200": {"description": "Whether the record exists"}},
                }
            },
        },
    }


def service_address(instance: str, registry: str) -> str:
    member = owners()[registry]
    return f"{instance}/GOV/{member}/{PROVIDER_SUBSYSTEM.get(member, 'REGISTRY')}/{registry}"


async def publish_all(
    db: Database, actor: Principal, *, instance: str, members: set[str] | None = None
) -> list[str]:
    """Publish every registry whose owner is a member here (or in `members`); returns their addresses."""
    out = []
    known = {m["code"]: m for m in await directory.members(db) if m["instance"] == instance}
    for registry, member in sorted(owners().items()):
        if member not in known or (members is not None and member not in members):
            continue
        sub = f"{instance}/GOV/{member}/{PROVIDER_SUBSYSTEM.get(member, 'REGISTRY')}"
        if not any(s["address"] == sub for s in known[member]["subsystems"]):
            continue
        versions = registry_catalogue()[registry]
        title = versions[max(versions)].title("vi")
        sv = await directory_services.publish_service(
            db,
            actor,
            subsystem=sub,
            code=registry,
            title=title,
            kind="registry",
            target=registry,
            operations=OPERATIONS,
            openapi=openapi(registry),
        )
        out.append(str(sv))
    return out


async def agency_rights(db: Database) -> dict[str, frozenset[str]]:
    """member code → the registries its subsystems hold an access right to (any operation). The
    registries domain asks for it to let an agency's officials read what the agency may read."""
    kinds = {s["address"]: s for s in await directory_services.services(db)}
    out: dict[str, set[str]] = {}
    for right in await directory_rights.rights(db):
        svc = kinds.get(right["service"])
        parts = right["client"].split("/")  # instance/class/member/subsystem
        if svc is not None and svc["kind"] == "registry" and len(parts) >= 3:
            out.setdefault(parts[2], set()).add(str(svc["target"]))
    return {member: frozenset(regs) for member, regs in out.items()}
