"""What the operator's exchange page shows: the directory and recent traffic (a use case: the
operator's right is checked here, not in the page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from dgov.exchange import directory, directory_rights, directory_rows, directory_services
from dgov.exchange.models import log_t
from dgov.identity import Principal, require
from dgov.kernel.uow import Database


async def operator_overview(db: Database, actor: Principal, *, traffic: int = 50) -> dict[str, Any]:
    require(actor, directory_rows.MANAGE)
    async with db.uow(readonly=True) as uow:
        recent = (await uow.session.execute(select(log_t).order_by(log_t.c.seq.desc()).limit(traffic))).all()
        outcomes = (
            await uow.session.execute(select(log_t.c.outcome, func.count()).group_by(log_t.c.outcome))
        ).all()
    return {
        "members": await directory.members(db),
        "services": await directory_services.services(db),
        "rights": await directory_rights.rights(db),
        "traffic": [
            {
                "seq": r.seq,
                "ts": r.ts,
                "client": r.client,
                "service": r.service,
                "method": r.method,
                "status": r.status,
                "outcome": r.outcome,
                "ms": r.duration_ms,
                "purpose": r.details.get("purpose", ""),
            }
            for r in recent
        ],
        "outcomes": sorted(((o, int(n)) for o, n in outcomes), key=lambda x: -x[1]),
    }
