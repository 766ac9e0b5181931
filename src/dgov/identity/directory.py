"""Who holds a role where: the list other domains pick officials from (e.g. assigning a task), so a
choice is always an active official's account, never a free-typed id."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select

from dgov.identity.models import Account, OfficialRole
from dgov.identity.roles import NATIONWIDE
from dgov.kernel.uow import UnitOfWork


@dataclass(frozen=True)
class OfficialEntry:
    account_id: uuid.UUID
    full_name: str

    @property
    def ref(self) -> str:
        """The same name `Principal.ref` gives this official when they act."""
        return f"official:{self.account_id}"


async def officials_holding(uow: UnitOfWork, *, role: str, agency: str, unit: str) -> list[OfficialEntry]:
    """Active officials holding `role` in `agency` (or one of its offices, "<agency>-<unit>") for `unit`
    (or nationwide), by name."""
    rows = await uow.session.execute(
        select(Account.id, Account.full_name)
        .join(OfficialRole, OfficialRole.account_id == Account.id)
        .where(
            Account.kind == "official",
            Account.status == "active",
            OfficialRole.role == role,
            OfficialRole.unit_code.in_((unit, NATIONWIDE)),
            or_(
                OfficialRole.agency_code == agency,
                OfficialRole.agency_code.startswith(agency + "-", autoescape=True),
            ),
        )
        .distinct()
        .order_by(Account.full_name, Account.id)
    )
    return [OfficialEntry(r[0], r[1]) for r in rows]


async def official_names(uow: UnitOfWork, refs: Iterable[str]) -> dict[str, str]:
    """`official:<id>` → the official's name, for the refs that name an official account."""
    ids: dict[uuid.UUID, str] = {}
    for ref in refs:
        kind, _, raw = (ref or "").partition(":")
        if kind != "official":
            continue
        try:
            ids[uuid.UUID(raw)] = ref
        except ValueError:
            continue
    if not ids:
        return {}
    rows = await uow.session.execute(select(Account.id, Account.full_name).where(Account.id.in_(ids)))
    return {ids[r[0]]: r[1] for r in rows}
