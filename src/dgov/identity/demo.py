"""Demo accounts (README lists them): citizens — one family with a child under 14 — officials of the
demo agencies, an operator, and (with the OIDC provider) a relying-party client. Made-up people only."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from dgov.identity import clients, service
from dgov.identity.authz import SYSTEM
from dgov.identity.context import IdentityContext, node_context
from dgov.identity.models import Account, OAuthClient
from dgov.web.runtime import Runtime

# Published demo credentials (README): made-up accounts on a demo node, not secrets.
CITIZEN_PASSWORD = "dan-so-mot-lan-2026"  # noqa: S105
OFFICIAL_PASSWORD = "canbo-demo-2026!"  # noqa: S105
OPERATOR_PASSWORD = "quan-tri-demo-2026"  # noqa: S105

# id_number, full name, birth date, sex, TOTP seed (None: password only, assurance level 1), phone
CITIZENS = [
    (
        "001090012345",
        "Nguyễn Văn An",
        date(1990, 3, 15),
        "M",
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        "0912000001",
    ),
    (
        "001192034567",
        "Trần Thị Bình",
        date(1992, 7, 20),
        "F",
        "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA",
        "0912000002",
    ),
    ("079085001234", "Lê Văn Cường", date(1985, 11, 2), "M", None, "0912000003"),
]
# The An and Bình family's child, linked under An's account.
CHILD = ("001216012345", "Nguyễn Minh Khang", date(2016, 9, 1), "M")

# username, full name, agency, role, unit, TOTP seed
OFFICIALS = [
    (
        "hotich.badinh",
        "Phạm Thu Hà",
        "BTP",
        "civil_status_officer",
        "00004",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
    ),
    (
        "cutru.badinh",
        "Đỗ Quang Minh",
        "BCA",
        "residence_officer",
        "00004",
        "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
    ),
    ("bhyt.hanoi", "Vũ Thị Lan", "BHXH", "insurance_officer", "01", "ONSWG4TFOQQGC3TEEBUGC4TEEB2G6IDH"),
    (
        "motcua.badinh",
        "Hoàng Văn Nam",
        "UBND-00004",
        "one_stop_officer",
        "00004",
        "NB2HI4DTHIXS653XO4XGK6DBNVYGYZJO",
    ),
]
OPERATOR = ("quantri", "Quản trị hệ thống", "DGOV", "operator", "*", "FV6XO7UASIRMQOKZICX57NB25JUAJ4RE")


# A relying party for trying the OIDC flow (README: "Try OpenID Connect").
RP_CLIENT_ID = "demo-rp"
RP_SECRET = "demo-rp-secret-0123456789abcdefghijkl"  # noqa: S105 - published demo credential
RP_REDIRECT = "http://127.0.0.1:8001/callback"
RP_SCOPES = ["openid", "profile", "email", "phone", "vn_id_number", "offline_access"]


def context(rt: Runtime) -> IdentityContext:
    return node_context(rt.db, secret=rt.secret, issuer=rt.settings.issuer)


async def _existing(
    ctx: IdentityContext, *, id_number: str | None = None, username: str | None = None
) -> Any:
    async with ctx.db.uow(readonly=True) as uow:
        column = Account.id_number if id_number else Account.username
        return await uow.session.scalar(select(Account.id).where(column == (id_number or username)))


async def load(rt: Runtime) -> None:
    """Idempotent: accounts that already exist are left as they are (`dgov demo --force` may rerun it)."""
    ctx = context(rt)
    parent_id = None
    for id_number, name, born, sex, seed, phone in CITIZENS:
        existing = await _existing(ctx, id_number=id_number)
        if existing is not None:
            parent_id = parent_id or existing
            continue
        account = await service.add_citizen(
            ctx,
            SYSTEM,
            id_number=id_number,
            full_name=name,
            birth_date=born,
            sex=sex,
            password=CITIZEN_PASSWORD,
            totp_secret=seed,
            phone=phone,
        )
        parent_id = parent_id or account.id
    child_id, child_name, child_born, child_sex = CHILD
    if await _existing(ctx, id_number=child_id) is None:
        await service.add_citizen(
            ctx,
            SYSTEM,
            id_number=child_id,
            full_name=child_name,
            birth_date=child_born,
            sex=child_sex,
            password=None,
            guardian_id=parent_id,
        )
    for username, name, agency, role, unit, seed in [*OFFICIALS, OPERATOR]:
        if await _existing(ctx, username=username) is not None:
            continue
        await service.add_official(
            ctx,
            SYSTEM,
            username=username,
            full_name=name,
            agency=agency,
            role=role,
            unit=unit,
            password=OPERATOR_PASSWORD if role == "operator" else OFFICIAL_PASSWORD,
            totp_secret=seed,
        )
    async with ctx.db.uow(readonly=True) as uow:
        have_rp = await uow.session.get(OAuthClient, RP_CLIENT_ID) is not None
    if not have_rp:
        await clients.add_client(
            ctx,
            SYSTEM,
            client_id=RP_CLIENT_ID,
            name="Ứng dụng thử nghiệm (demo)",
            scopes=RP_SCOPES,
            redirect_uris=[RP_REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            post_logout_redirect_uris=["http://127.0.0.1:8001/"],
            secret=RP_SECRET,
        )
