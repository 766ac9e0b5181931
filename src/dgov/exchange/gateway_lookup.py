"""The gateway's view of the directory: client subsystems with their keys, services with the caller's
rights.

Cached briefly: a change made in this process clears the cache at once (through the directory's change
counter); one made by another process applies within CACHE_SECONDS.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select

from dgov.exchange import directory_rows
from dgov.exchange.addresses import ServiceId, SubsystemId
from dgov.exchange.gateway_wire import NOT_FOUND, Refused
from dgov.exchange.models import keys_t, members_t, rights_t, services_t, subsystems_t
from dgov.kernel.uow import Database

CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Client:
    address: SubsystemId
    id: Any
    status: str
    member_status: str
    name: str
    keys: dict[str, tuple[str, str, str]]  # key id → (public PEM, alg, status)


class DirectoryLookups:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._cache_generation = directory_rows.generation()

    async def _cached(self, key: tuple[str, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        if self._cache_generation != directory_rows.generation():
            self._cache.clear()
            self._cache_generation = directory_rows.generation()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + CACHE_SECONDS, value)
        return value

    async def client(self, address: SubsystemId) -> Client | None:
        found: Client | None = await self._cached(
            ("client", str(address)), lambda: self._load_client(address)
        )
        return found

    async def _load_client(self, address: SubsystemId) -> Client | None:
        m, s = members_t, subsystems_t
        q = (
            select(
                s.c.id,
                s.c.status,
                m.c.status.label("mstatus"),
                m.c.name,
                keys_t.c.key_id,
                keys_t.c.public_pem,
                keys_t.c.alg,
                keys_t.c.status.label("kstatus"),
            )
            .join(m, m.c.id == s.c.member_id)
            .outerjoin(keys_t, keys_t.c.subsystem_id == s.c.id)
            .where(
                m.c.instance == address.member.instance,
                m.c.member_class == address.member.member_class,
                m.c.code == address.member.code,
                s.c.code == address.code,
            )
        )
        async with self.db.uow(readonly=True) as uow:
            rows = (await uow.session.execute(q)).all()
        if not rows:
            return None
        r0 = rows[0]
        keys = {r.key_id: (r.public_pem, r.alg, r.kstatus) for r in rows if r.key_id is not None}
        return Client(address, r0.id, r0.status, r0.mstatus, r0.name, keys)

    async def service_exists(self, sv: ServiceId) -> bool:
        return (await self._service_row(sv, None)) is not None

    async def _service_row(self, sv: ServiceId, client_id: Any) -> Any:
        return await self._cached(
            ("service", str(sv), str(client_id)), lambda: self._load_service_row(sv, client_id)
        )

    async def _load_service_row(self, sv: ServiceId, client_id: Any) -> Any:
        m, s = members_t, subsystems_t
        q = (
            select(
                services_t.c.id,
                services_t.c.kind,
                services_t.c.target,
                services_t.c.operations,
                s.c.status,
                m.c.status.label("mstatus"),
            )
            .join(s, s.c.id == services_t.c.subsystem_id)
            .join(m, m.c.id == s.c.member_id)
            .where(
                m.c.instance == sv.subsystem.member.instance,
                m.c.member_class == sv.subsystem.member.member_class,
                m.c.code == sv.subsystem.member.code,
                s.c.code == sv.subsystem.code,
                services_t.c.code == sv.code,
            )
        )
        async with self.db.uow(readonly=True) as uow:
            row = (await uow.session.execute(q)).one_or_none()
            if row is None or client_id is None:
                return row
            ops = (
                (
                    await uow.session.execute(
                        select(rights_t.c.operation).where(
                            and_(rights_t.c.client_id == client_id, rights_t.c.service_id == row.id)
                        )
                    )
                )
                .scalars()
                .all()
            )
        return row, list(ops)

    async def service(self, sv: ServiceId, client: Client) -> dict[str, Any]:
        found = await self._service_row(sv, client.id)
        if found is None:
            raise Refused(
                "No service {service}", status=404, code="unknown-service", title=NOT_FOUND, service=str(sv)
            )
        row, ops = found
        if row.status != "active" or row.mstatus != "active":
            raise Refused(
                "No service {service}", status=404, code="unknown-service", title=NOT_FOUND, service=str(sv)
            )
        return {
            "kind": row.kind,
            "target": row.target,
            "operations": row.operations,
            "all_ops": "" in ops,
            "ops": set(ops),
        }
