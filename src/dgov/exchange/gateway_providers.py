"""Running the service a call reached: the providers this node serves itself (the base registries)."""

from __future__ import annotations

from typing import Any

from dgov.exchange.gateway_lookup import Client
from dgov.exchange.gateway_wire import DOSSIER, NOT_FOUND, PURPOSE, Incoming, Refused, header_text
from dgov.identity import Principal
from dgov.kernel.uow import Database
from dgov.registries import RegistriesContext, read_record, record_exists


async def execute(
    db: Database,
    req: Incoming,
    client: Client,
    svc: dict[str, Any],
    op: dict[str, Any],
    params: dict[str, str],
) -> Any:
    if svc["kind"] != "registry":
        raise Refused(
            "This node does not serve {service}",
            status=404,
            code="unknown-service",
            title=NOT_FOUND,
            service=svc["target"],
        )
    registry = svc["target"]
    actor = Principal(
        kind="client", client_id=str(client.address), scopes=frozenset({f"registry.{registry}.read"})
    )
    ctx = RegistriesContext(db=db)
    if op["id"] == "recordExists":
        return {
            "registry": registry,
            "key": params["key"],
            "exists": await record_exists(ctx, actor, registry, params["key"]),
        }
    purpose = header_text(req.headers.get(PURPOSE, ""))
    if not purpose:
        raise Refused(
            "State the purpose of this read in the X-Dgov-Purpose header",
            status=400,
            code="purpose-required",
            title="The request cannot be processed",
        )
    fields = [f for f in req.query.get("fields", "").split(",") if f] or None
    view = await read_record(
        ctx,
        actor,
        registry,
        params["key"],
        purpose=purpose,
        fields=fields,
        channel="exchange",
        dossier_code=header_text(req.headers.get(DOSSIER, "")) or None,
        accessor_name=client.name,
    )
    return {
        "registry": view.registry,
        "key": view.key,
        "version": view.version,
        "data": view.data,
        "valid_from": view.valid_from.isoformat(),
    }
