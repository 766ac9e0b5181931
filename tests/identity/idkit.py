"""Shared helpers of the identity tests (constants, ID-number builder, database peeks); fixtures are in
conftest.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pyotp
from sqlalchemy import func, select

from dgov.identity.models import Account
from dgov.kernel.models import AuditRecord
from dgov.kernel.uow import Database

# A step boundary of TOTP (a multiple of 30 s), so "the code of the current step" is unambiguous.
T0 = datetime(2026, 3, 2, 3, 0, 0, tzinfo=UTC)
PASSWORD = "dan-so-mot-lan-2026"
OTHER_PASSWORD = "mat-khau-moi-rat-kho-doan-2027"
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OFFICIAL_PASSWORD = "canbo-demo-2026!"


def id_number_for(birth: date, sex: str, place: str = "001", serial: str = "012345") -> str:
    """A valid number for this birth date and sex (the century/sex digit per Circular 07/2016 Art. 7)."""
    return f"{place}{2 * (birth.year // 100 - 19) + (sex == 'F')}{birth.year % 100:02d}{serial}"


def code_at(seed: str, at: datetime) -> str:
    return pyotp.TOTP(seed).at(at)


async def audit_rows(db: Database, action: str, **where: Any) -> list[AuditRecord]:
    async with db.uow(readonly=True) as uow:
        query = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        for column, value in where.items():
            query = query.where(getattr(AuditRecord, column) == value)
        return list(await uow.session.scalars(query))


async def count(db: Database, model: Any, *conditions: Any) -> int:
    async with db.uow(readonly=True) as uow:
        n = await uow.session.scalar(select(func.count()).select_from(model).where(*conditions))
        return int(n or 0)


async def reload(db: Database, account_id: Any) -> Account:
    async with db.uow(readonly=True) as uow:
        account = await uow.session.get(Account, account_id)
        assert account is not None
        return account
