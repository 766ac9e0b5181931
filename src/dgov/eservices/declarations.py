"""Declarations a named person must confirm before a dossier's process starts (see `relations`).

A mother names a father who is not her husband on record; a citizen asks to join someone's household.
The dossier is submitted and gets its code, but its process — every registry write, every certificate,
every notification about the result — starts only once each named person has confirmed in their own
account (`/xac-nhan`). A refusal ends the dossier (rejected, with the reason) and writes nothing to
anyone's records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from dgov.eservices import dossiers
from dgov.eservices.catalogue import catalogue
from dgov.eservices.dossiers import Dossier
from dgov.eservices.models import declarations as t_decl
from dgov.eservices.relations import Pending
from dgov.identity import SYSTEM, Principal, audit_by
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, Forbidden, NotFound
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork

PENDING, CONFIRMED, REFUSED = "pending", "confirmed", "refused"


def N_(message: str) -> str:
    return message


REFUSAL_NOTE = N_("A person named in the dossier did not confirm the declaration")


@dataclass(frozen=True)
class DeclarationView:
    """What the named person sees: enough to know what they confirm, no more."""

    id: uuid.UUID
    kind: str
    role: str
    status: str
    dossier_code: str
    procedure: str
    applicant_name: str
    child_name: str
    child_birth_date: str


async def record(uow: UnitOfWork, d: Dossier, pending: list[Pending], actor: Principal) -> None:
    """Store the declarations of a dossier just submitted and ask each named person to confirm."""
    now = clock.now()
    seen: set[tuple[str, str]] = set()
    for item in pending:
        if (item.kind, item.person_id_number) in seen:
            continue
        seen.add((item.kind, item.person_id_number))
        await uow.session.execute(
            t_decl.insert().values(
                id=new_id(),
                dossier_id=d.id,
                kind=item.kind,
                role=item.role,
                person_id_number=item.person_id_number,
                status=PENDING,
                created_at=now,
                decided_at=None,
                decided_by=None,
            )
        )
        uow.publish(
            "notify.send",
            {
                "channel": "inbox",
                "person": item.person_id_number,
                "template": "eservices.confirm_requested",
                "params": {"code": d.code, "applicant": d.applicant_name},
                "locale": "vi",
            },
            key=d.ref,
        )
    uow.audit(
        audit_by(
            actor,
            action="eservices.dossier.awaits_confirmation",
            object_type="dossier",
            object_id=d.ref,
            details={"declarations": sorted({f"{p.kind}:{p.role}" for p in pending})},
        )
    )


async def pending_of(uow: UnitOfWork, dossier_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await uow.session.execute(select(t_decl).where(t_decl.c.dossier_id == dossier_id))
    return [dict(r) for r in rows.mappings().all()]


def _child_name(data: dict[str, Any]) -> str:
    child = data.get("child") or {}
    parts = (child.get("surname"), child.get("middle_name"), child.get("given_name"))
    return child.get("full_name") or " ".join(p for p in parts if p)


async def for_person(db: Database, p: Principal, id_number: str) -> list[DeclarationView]:
    """The declarations naming the logged-in citizen (`id_number` is their own, from their account)."""
    if p.kind != "citizen" or p.account_id is None or p.acting_for is not None:
        raise Forbidden()
    async with db.uow(readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(t_decl)
                .where(t_decl.c.person_id_number == id_number)
                .order_by(t_decl.c.created_at.desc())
            )
        ).mappings()
        out = []
        for r in rows:
            d = await dossiers.get(uow, r["dossier_id"])
            proc = catalogue().get(d.procedure_id)
            out.append(
                DeclarationView(
                    id=r["id"],
                    kind=r["kind"],
                    role=r["role"],
                    status=r["status"],
                    dossier_code=d.code or "",
                    procedure=proc.name("vi") if proc else d.procedure_id,
                    applicant_name=d.applicant_name,
                    child_name=_child_name(d.data),
                    child_birth_date=str((d.data.get("child") or {}).get("birth_date") or ""),
                )
            )
    return out


async def decide(
    db: Database, p: Principal, id_number: str, declaration_id: uuid.UUID, *, confirm: bool
) -> Dossier:
    """The named person confirms or refuses, in their own account at their own login: no one else can
    (not the applicant, not a parent acting for a child). The last confirmation starts the process."""
    if p.kind != "citizen" or p.account_id is None or p.acting_for is not None:
        raise Forbidden()
    async with db.uow() as uow:
        row = (
            (await uow.session.execute(select(t_decl).where(t_decl.c.id == declaration_id)))
            .mappings()
            .first()
        )
        if row is None or row["person_id_number"] != id_number:
            raise NotFound("No such declaration")
        if row["status"] != PENDING:
            raise Conflict("This declaration was already answered")
        d = await dossiers.get(uow, row["dossier_id"])
        if d.status != dossiers.SUBMITTED:
            raise Conflict("This dossier can no longer be edited")
        done = await uow.session.execute(
            update(t_decl)
            .where(t_decl.c.id == declaration_id, t_decl.c.status == PENDING)
            .values(status=CONFIRMED if confirm else REFUSED, decided_at=clock.now(), decided_by=p.ref)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("This declaration was already answered")
        uow.audit(
            audit_by(
                p,
                action="eservices.declaration." + ("confirmed" if confirm else "refused"),
                object_type="dossier",
                object_id=d.ref,
                details={"kind": row["kind"], "role": row["role"]},
            )
        )
        if not confirm:
            d = await dossiers.transition(uow, d.id, dossiers.REJECTED, actor=SYSTEM, note=REFUSAL_NOTE)
        else:
            left = await uow.session.scalar(
                select(t_decl.c.id).where(t_decl.c.dossier_id == d.id, t_decl.c.status != CONFIRMED).limit(1)
            )
            if left is None:  # everyone named has confirmed: the agencies may now process the dossier
                await dossiers.workflow_module().start(uow, d)
        await uow.commit()
        return await dossiers.get(uow, d.id)
