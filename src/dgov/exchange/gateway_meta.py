"""X-Road's metaservices: listClients, and a provider's listMethods, allowedMethods and getOpenAPI."""

from __future__ import annotations

from typing import Any

from dgov.exchange import directory, directory_rights, directory_services
from dgov.exchange.addresses import service_id, subsystem_id
from dgov.exchange.gateway_checks import RequestChecks
from dgov.exchange.gateway_wire import NOT_FOUND, CallContext, Incoming, Refused
from dgov.kernel.errors import DomainError
from dgov.kernel.uow import Database

METASERVICES = ("listMethods", "allowedMethods", "getOpenAPI")


async def metaservice(
    db: Database, checks: RequestChecks, req: Incoming, ctx: CallContext, name: str, target: str
) -> Any:
    try:
        provider = subsystem_id(target)
    except DomainError:
        raise Refused(
            "No service at this address", status=404, code="unknown-service", title=NOT_FOUND
        ) from None
    client = await checks.authenticate(req, ctx)
    if name == "listMethods":
        return {
            "service": [rest_service(s) for s in await directory_services.services(db, subsystem=provider)]
        }
    if name == "allowedMethods":
        allowed = await directory_rights.allowed_services(db, client.address)
        return {"service": [rest_service(s) for s in allowed if s["subsystem"] == str(provider)]}
    code = req.query.get("serviceCode", "")
    doc = None
    if code:
        try:
            doc = await directory_services.openapi_of(db, service_id(f"{provider}/{code}"))
        except DomainError:
            doc = None
    if doc is None:
        raise Refused(
            "No service {service}",
            status=404,
            code="unknown-service",
            title=NOT_FOUND,
            service=f"{provider}/{code}",
        )
    return doc


def rest_service(s: dict[str, Any]) -> dict[str, Any]:
    """X-Road REST's listMethods shape: service ids with their endpoints."""
    return {
        "service_code": s["code"],
        "title": s["title"],
        "address": s["address"],
        "service_type": "REST",
        "endpoints": [{"method": o["method"], "path": o["path"]} for o in s["operations"]],
    }


async def list_clients(db: Database) -> list[dict[str, Any]]:
    out = []
    for m in await directory.members(db):
        if m["status"] != "active":
            continue
        out.append({"id": {"object_type": "MEMBER", "address": m["address"]}, "name": m["name"]})
        for s in m["subsystems"]:
            if s["status"] == "active":
                out.append({"id": {"object_type": "SUBSYSTEM", "address": s["address"]}, "name": m["name"]})
    return out
