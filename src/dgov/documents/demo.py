"""Demo documents: what the demo family's wallets hold after `dgov demo` (runs after the PKI's demo).

Khang's birth certificate and health insurance card in both An's and Bình's wallets, An's residence
confirmation, and a marital status confirmation for Cường. Four documents only: each is rendered and
signed (a fraction of a second, more on a busy machine) and `dgov init` should stay quick.
Idempotent: a template already issued to a wallet is not issued again.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from dgov.documents import service
from dgov.documents.models import documents, wallet
from dgov.documents.templates_catalog import template
from dgov.identity import SYSTEM
from dgov.web.runtime import Runtime

AN, BINH, KHANG, CUONG = "001090012345", "001192034567", "001216012345", "079085001234"


def _residence(person: dict[str, Any], relationship: str) -> dict[str, Any]:
    data = copy.deepcopy(template("residence-confirmation").example)
    data["person"] = person
    data["relationship"] = relationship
    return data


def demo_documents() -> list[tuple[str, dict[str, Any], list[str]]]:
    """(template, data, holders) of every demo document."""
    return [
        ("birth-certificate", template("birth-certificate").example, [AN, BINH]),
        ("health-insurance-card", template("health-insurance-card").example, [AN, BINH]),
        ("marital-status", template("marital-status").example, [CUONG]),
        (
            "residence-confirmation",
            _residence(
                {"full_name": "Nguyễn Văn An", "birth_date": "1990-03-15", "sex": "M", "id_number": AN},
                "Chủ hộ",
            ),
            [AN],
        ),
    ]


async def _already(rt: Runtime, name: str, holder: str) -> bool:
    q = (
        select(documents.c.id)
        .join(wallet, wallet.c.document_id == documents.c.id)
        .where((documents.c.template == name) & (wallet.c.holder_id == holder))
        .limit(1)
    )
    async with rt.db.uow(readonly=True) as uow:
        return (await uow.session.execute(q)).first() is not None


async def load(rt: Runtime) -> None:
    ctx = service.context(rt.settings, rt.db)
    for name, data, holders in demo_documents():
        if await _already(rt, name, holders[0]):
            continue
        await service.store_issued(
            ctx,
            SYSTEM,
            template_name=name,
            data=data,
            holders=holders,
            legal_basis=template(name).legal_basis,
        )
