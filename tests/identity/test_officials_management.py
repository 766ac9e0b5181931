"""Managing officials on both databases: disabling and enabling an account, revoking and granting roles,
resetting an official's second factor or password. First the use cases (who may, what changes, what the
audit chain records, what is refused so that operators cannot lock the platform out), then the operator
page through the real app (CSRF, confirmation screens, field errors, notices)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import AsyncClient, Response
from idkit import OFFICIAL_PASSWORD, TOTP_SEED, audit_rows, code_at, count, reload

from dgov.identity import login as login_uc
from dgov.identity import officials, service, sessions
from dgov.identity.authz import ANONYMOUS, Principal, RoleGrant, can
from dgov.identity.context import IdentityContext
from dgov.identity.login import LoginFailed
from dgov.identity.models import Account, LoginSession, OfficialRole
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from dgov.kernel.i18n import translations
from dgov.kernel.models import AuditRecord

NEW_PASSWORD = "so-tay-ho-tich-moi-2027"
OPERATOR_PASSWORD = "quan-tri-nen-tang-2026!"


def operator_principal(account: Account) -> Principal:
    return Principal(
        kind="operator", account_id=account.id, level=2, roles=(RoleGrant("DGOV", "operator", "*"),)
    )


@pytest.fixture
async def operator(make_official: Any) -> Account:
    account: Account = await make_official(
        "quantri", role="operator", agency="DGOV", unit="*", totp=TOTP_SEED, password=OPERATOR_PASSWORD
    )
    return account


async def log_in(ctx: IdentityContext, username: str, password: str = OFFICIAL_PASSWORD) -> str:
    step = await login_uc.password_step(ctx, identifier=username, password=password, ip=None, user_agent=None)
    return step.token


async def live_sessions(db: Any, account_id: uuid.UUID) -> int:
    return await count(
        db, LoginSession, LoginSession.account_id == account_id, LoginSession.revoked_at.is_(None)
    )


# --- disabling and enabling ------------------------------------------------------------------------


async def test_disabling_ends_every_session_and_login_until_enabled_again(
    operator: Account, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official()
    tokens = [await log_in(id_ctx, "hotich.badinh") for _ in range(2)]
    assert await live_sessions(db, official.id) == 2
    actor = operator_principal(operator)

    await officials.disable_official(id_ctx, actor, account_id=official.id)

    assert (await reload(db, official.id)).status == "disabled"
    assert await live_sessions(db, official.id) == 0
    for token in tokens:
        assert await sessions.resolve(id_ctx, token) is None
    with pytest.raises(LoginFailed):
        await log_in(id_ctx, "hotich.badinh")
    [record] = await audit_rows(db, "identity.official_disabled", object_id=str(official.id))
    assert record.actor == actor.ref and record.object_type == "account"
    # A second click on a stale page changes nothing and records nothing.
    await officials.disable_official(id_ctx, actor, account_id=official.id)
    assert len(await audit_rows(db, "identity.official_disabled")) == 1

    await officials.enable_official(id_ctx, actor, account_id=official.id)
    assert (await reload(db, official.id)).status == "active"
    [enabled] = await audit_rows(db, "identity.official_enabled", object_id=str(official.id))
    assert enabled.actor == actor.ref
    # The old sessions stay ended; a new login works and the roles are still there.
    assert await sessions.resolve(id_ctx, tokens[0]) is None
    again = await sessions.resolve(id_ctx, await log_in(id_ctx, "hotich.badinh"))
    assert again is not None and again.principal.holds("civil_status_officer", agency="BTP", unit="00004")


async def test_an_operator_cannot_disable_themself(
    operator: Account, id_ctx: IdentityContext, db: Any
) -> None:
    with pytest.raises(Conflict) as info:
        await officials.disable_official(id_ctx, operator_principal(operator), account_id=operator.id)
    assert info.value.detail == "You cannot disable your own account"
    assert (await reload(db, operator.id)).status == "active"
    assert await audit_rows(db, "identity.official_disabled") == []


async def test_the_last_active_operator_cannot_be_disabled(
    operator: Account, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    # Someone else acting (another operator whose account is elsewhere, or the system from the CLI).
    outsider = Principal(kind="operator", account_id=uuid.uuid4(), level=2)
    await log_in(id_ctx, "quantri", OPERATOR_PASSWORD)
    with pytest.raises(Conflict) as info:
        await officials.disable_official(id_ctx, outsider, account_id=operator.id)
    assert info.value.detail == "This is the last active operator: add or enable another operator first"
    # Refused as a whole: nothing half done in the same unit of work.
    assert (await reload(db, operator.id)).status == "active"
    assert await live_sessions(db, operator.id) == 1
    assert await audit_rows(db, "identity.official_disabled") == []

    # An official holding the operator role counts as an operator too.
    helper = await make_official("kythuat", role="agency_admin", agency="DGOV", unit="*")
    await service.grant_role(id_ctx, outsider, account_id=helper.id, agency="DGOV", role="operator", unit="*")
    await officials.disable_official(id_ctx, outsider, account_id=operator.id)
    assert (await reload(db, operator.id)).status == "disabled"
    with pytest.raises(Conflict):
        await officials.disable_official(id_ctx, outsider, account_id=helper.id)
    # Enabling the first one again lets the second go.
    await officials.enable_official(id_ctx, outsider, account_id=operator.id)
    await officials.disable_official(id_ctx, outsider, account_id=helper.id)
    assert (await reload(db, helper.id)).status == "disabled"


async def test_a_disabled_officials_bearer_roles_are_gone_at_once(
    operator: Account, make_official: Any, id_ctx: IdentityContext
) -> None:
    """The page an official has open stops working at their next request, not at some later expiry."""
    await make_official()
    token = await log_in(id_ctx, "hotich.badinh")
    official = await sessions.resolve(id_ctx, token)
    assert official is not None
    await officials.disable_official(id_ctx, operator_principal(operator), account_id=official.account.id)
    assert await sessions.resolve(id_ctx, token) is None


# --- roles -----------------------------------------------------------------------------------------


async def test_revoking_one_role_grant_keeps_the_others(
    operator: Account, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official()
    actor = operator_principal(operator)
    await service.grant_role(
        id_ctx, actor, account_id=official.id, agency="BCA", role="residence_officer", unit="00004"
    )
    async with db.uow(readonly=True) as uow:
        first, second = sorted(await service.roles_of(uow, official.id), key=lambda r: r.id)
    token = await log_in(id_ctx, "hotich.badinh")

    await officials.revoke_role(id_ctx, actor, role_id=first.id)

    async with db.uow(readonly=True) as uow:
        left = await service.roles_of(uow, official.id)
    assert [(r.agency_code, r.role, r.unit_code) for r in left] == [("BCA", "residence_officer", "00004")]
    # The session stays, and its principal loses the role at once (roles are read at every request).
    login = await sessions.resolve(id_ctx, token)
    assert login is not None
    assert not login.principal.holds("civil_status_officer")
    assert login.principal.holds("residence_officer", agency="BCA", unit="00004")
    [record] = await audit_rows(db, "identity.role_revoked", object_id=str(official.id))
    assert record.actor == actor.ref
    assert record.details == {
        "agency": "BTP",
        "role": "civil_status_officer",
        "unit": "00004",
        "grant": first.id,
    }
    with pytest.raises(NotFound):
        await officials.revoke_role(id_ctx, actor, role_id=first.id)
    assert second.id in {r.id for r in left}


async def test_revoking_the_operator_role_makes_an_official_and_keeps_one_operator(
    operator: Account, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    outsider = Principal(kind="operator", account_id=uuid.uuid4(), level=2)
    async with db.uow(readonly=True) as uow:
        [only] = await service.roles_of(uow, operator.id)
    with pytest.raises(Conflict):
        await officials.revoke_role(id_ctx, outsider, role_id=only.id)
    assert await count(db, OfficialRole, OfficialRole.id == only.id) == 1

    second = await make_official("quantri2", role="operator", agency="DGOV", unit="*")
    # Even with another operator there, nobody removes their own operator role.
    with pytest.raises(Conflict) as info:
        await officials.revoke_role(id_ctx, operator_principal(operator), role_id=only.id)
    assert info.value.detail == "You cannot remove your own operator role"
    await officials.revoke_role(id_ctx, outsider, role_id=only.id)
    demoted = await reload(db, operator.id)
    # Otherwise the account's kind alone would still make it an operator.
    assert demoted.kind == "official"
    assert not can(sessions.principal_of(demoted, [], 2), "identity.official.manage")
    # Granting the role back makes it an operator account again.
    await service.grant_role(
        id_ctx, outsider, account_id=operator.id, agency="DGOV", role="operator", unit="*"
    )
    assert (await reload(db, operator.id)).kind == "operator"
    assert (await reload(db, second.id)).kind == "operator"


async def test_the_same_role_cannot_be_granted_twice(
    operator: Account, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official()
    with pytest.raises(ValidationFailed) as info:
        await service.grant_role(
            id_ctx,
            operator_principal(operator),
            account_id=official.id,
            agency="BTP",
            role="civil_status_officer",
            unit="00004",
        )
    assert {str(e.loc[-1]): e.message for e in info.value.errors} == {
        "role": "The official already holds this role"
    }
    assert await count(db, OfficialRole, OfficialRole.account_id == official.id) == 1


# --- second factor and password ---------------------------------------------------------------------


async def test_resetting_the_second_factor_ends_sessions_and_asks_for_enrolment(
    operator: Account, make_official: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Any
) -> None:
    official = await make_official(totp=TOTP_SEED)
    step = await login_uc.password_step(
        id_ctx, identifier="hotich.badinh", password=OFFICIAL_PASSWORD, ip=None, user_agent=None
    )
    token = await login_uc.second_factor_step(
        id_ctx, pending_token=step.token, code=code_at(TOTP_SEED, id_clock.now()), ip=None, user_agent=None
    )
    assert (await reload(db, official.id)).totp_last_step is not None
    assert await sessions.resolve(id_ctx, token) is not None
    actor = operator_principal(operator)

    await officials.reset_second_factor(id_ctx, actor, account_id=official.id)

    after = await reload(db, official.id)
    assert after.totp_secret is None and after.totp_last_step is None
    assert await sessions.resolve(id_ctx, token) is None
    assert await live_sessions(db, official.id) == 0
    [record] = await audit_rows(db, "identity.official_totp_reset", object_id=str(official.id))
    assert record.actor == actor.ref and record.details == {}
    # The password now opens a level-1 login only; a service asking for level 2 leads to enrolment.
    again = await login_uc.password_step(
        id_ctx, identifier="hotich.badinh", password=OFFICIAL_PASSWORD, ip=None, user_agent=None
    )
    assert not again.second_factor_required
    with pytest.raises(Conflict) as info:
        await officials.reset_second_factor(id_ctx, actor, account_id=official.id)
    assert info.value.detail == "This account has no second factor to reset"


async def test_an_operator_resets_neither_their_own_factor_nor_their_own_password(
    operator: Account, id_ctx: IdentityContext, db: Any
) -> None:
    me = operator_principal(operator)
    with pytest.raises(Conflict):
        await officials.reset_second_factor(id_ctx, me, account_id=operator.id)
    with pytest.raises(Conflict):
        await officials.reset_official_password(id_ctx, me, account_id=operator.id, password=NEW_PASSWORD)
    assert (await reload(db, operator.id)).totp_secret is not None
    assert await audit_rows(db, "identity.official_totp_reset") == []
    assert await audit_rows(db, "identity.official_password_reset") == []


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Use at least 10 characters"),
        ("password123", None),  # a common password (the policy's own wording)
        ("hotich.badinh.2026", None),  # built from the username
    ],
)
async def test_a_reset_password_follows_the_policy(
    operator: Account,
    make_official: Any,
    id_ctx: IdentityContext,
    db: Any,
    password: str,
    message: str | None,
) -> None:
    official = await make_official()
    token = await log_in(id_ctx, "hotich.badinh")
    with pytest.raises(ValidationFailed) as info:
        await officials.reset_official_password(
            id_ctx, operator_principal(operator), account_id=official.id, password=password
        )
    fields = {str(e.loc[-1]) for e in info.value.errors}
    assert fields == {"password"}
    if message:
        assert [e.message for e in info.value.errors] == [message]
    # Nothing changed: the old password works, the session lives, nothing recorded.
    assert await sessions.resolve(id_ctx, token) is not None
    await log_in(id_ctx, "hotich.badinh")
    assert await audit_rows(db, "identity.official_password_reset") == []


async def test_a_password_reset_ends_sessions_and_clears_a_lock(
    operator: Account, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official()
    token = await log_in(id_ctx, "hotich.badinh")
    for _ in range(3):
        with pytest.raises(LoginFailed):
            await log_in(id_ctx, "hotich.badinh", "not-the-password-2026")
    assert (await reload(db, official.id)).failed_logins == 3
    actor = operator_principal(operator)

    await officials.reset_official_password(id_ctx, actor, account_id=official.id, password=NEW_PASSWORD)

    assert await sessions.resolve(id_ctx, token) is None
    assert (await reload(db, official.id)).failed_logins == 0
    with pytest.raises(LoginFailed):
        await log_in(id_ctx, "hotich.badinh")
    assert await sessions.resolve(id_ctx, await log_in(id_ctx, "hotich.badinh", NEW_PASSWORD)) is not None
    [record] = await audit_rows(db, "identity.official_password_reset", object_id=str(official.id))
    assert record.actor == actor.ref and NEW_PASSWORD not in str(record.details)


# --- who may, and on whom ---------------------------------------------------------------------------

UseCase = Callable[[IdentityContext, Principal, Account, int], Awaitable[object]]
USE_CASES: dict[str, UseCase] = {
    "disable": lambda c, p, a, _r: officials.disable_official(c, p, account_id=a.id),
    "enable": lambda c, p, a, _r: officials.enable_official(c, p, account_id=a.id),
    "revoke": lambda c, p, _a, r: officials.revoke_role(c, p, role_id=r),
    "second factor": lambda c, p, a, _r: officials.reset_second_factor(c, p, account_id=a.id),
    "password": lambda c, p, a, _r: officials.reset_official_password(
        c, p, account_id=a.id, password=NEW_PASSWORD
    ),
}
REFUSED = {
    "anonymous": ANONYMOUS,
    "operator at level 1": Principal(
        kind="operator", account_id=uuid.uuid4(), level=1, roles=(RoleGrant("DGOV", "operator", "*"),)
    ),
    "agency admin": Principal(
        kind="official", account_id=uuid.uuid4(), level=2, roles=(RoleGrant("BTP", "agency_admin", "*"),)
    ),
    "citizen": Principal(kind="citizen", account_id=uuid.uuid4(), level=2),
}


@pytest.mark.parametrize("use_case", USE_CASES)
@pytest.mark.parametrize("who", REFUSED)
async def test_only_an_operator_at_level_2_manages_officials(
    make_official: Any, id_ctx: IdentityContext, db: Any, use_case: str, who: str
) -> None:
    official = await make_official(totp=TOTP_SEED)
    async with db.uow(readonly=True) as uow:
        [grant] = await service.roles_of(uow, official.id)
    before = await count(db, AuditRecord)
    with pytest.raises((Unauthenticated, Forbidden)):
        await USE_CASES[use_case](id_ctx, REFUSED[who], official, grant.id)
    after = await reload(db, official.id)
    assert (after.status, after.totp_secret is not None) == ("active", True)
    assert await count(db, OfficialRole) == 1
    assert await count(db, AuditRecord) == before


@pytest.mark.parametrize("use_case", ["disable", "enable", "second factor", "password"])
async def test_citizens_accounts_are_not_managed_here(
    operator: Account, make_citizen: Any, id_ctx: IdentityContext, db: Any, use_case: str
) -> None:
    citizen = await make_citizen(totp=TOTP_SEED)
    with pytest.raises(NotFound):
        await USE_CASES[use_case](id_ctx, operator_principal(operator), citizen, 0)
    after = await reload(db, citizen.id)
    assert (after.status, after.totp_secret is not None) == ("active", True)
    with pytest.raises(NotFound):
        await USE_CASES[use_case](id_ctx, operator_principal(operator), Account(id=uuid.uuid4()), 0)


# === the operator page ==============================================================================

COOKIE = sessions.COOKIE


@pytest.fixture
async def web(
    client: AsyncClient, id_web_ctx: IdentityContext, id_clock: FrozenClock, operator: Account
) -> AsyncClient:
    """The client, logged in as the operator at level 2."""
    await client.get("/login")
    await post(client, "/login", {"username": "quantri", "password": OPERATOR_PASSWORD})
    r = await post(client, "/login/second-factor", {"code": code_at(TOTP_SEED, id_clock.now()), "next": "/"})
    assert r.status_code == 303, r.text[:300]
    return client


def vi(msgid: str, **params: Any) -> str:
    text = translations("vi").gettext(msgid)
    return text.format(**params) if params else text


async def post(client: AsyncClient, path: str, data: dict[str, str]) -> Response:
    if "csrftoken" not in client.cookies:
        await client.get("/login")
    return await client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


def location(r: Response) -> tuple[str, dict[str, list[str]]]:
    assert r.status_code == 303, (r.status_code, r.text[:500])
    parts = urlsplit(r.headers["location"])
    return parts.path, parse_qs(parts.query)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def notice(page: str) -> str:
    m = re.search(r'<p class="notice success" role="status">(.*?)</p>', page, re.S)
    assert m is not None, "no success notice"
    return text_of(m.group(1))


def field_error(page: str, name: str) -> str | None:
    m = re.search(rf'<p class="error-message" id="{re.escape(name)}-error">(.*?)</p>', page, re.S)
    if m is None:
        return None
    return html.unescape(re.sub(r"<span[^>]*>.*?</span>", "", m.group(1), flags=re.S)).strip()


def forms(page: str) -> dict[str, set[str]]:
    """action → the names of the fields its form posts."""
    found = re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    return {action: set(re.findall(r'name="([^"]+)"', body)) for action, body in found}


def row(page: str, username: str) -> str:
    for tr in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if f"<strong>{username}</strong>" in tr:
            return str(tr)
    raise AssertionError(f"no row for {username}")


async def test_each_row_offers_its_actions_as_csrf_protected_post_forms(
    web: AsyncClient, operator: Account, make_official: Any, db: Any
) -> None:
    official = await make_official(totp=TOTP_SEED)
    async with db.uow(readonly=True) as uow:
        [grant] = await service.roles_of(uow, official.id)
    page = (await web.get("/operator/officials")).text
    theirs = forms(row(page, "hotich.badinh"))
    assert theirs == {
        f"/operator/officials/roles/{grant.id}/revoke": {"csrftoken"},
        f"/operator/officials/{official.id}/second-factor/reset": {"csrftoken"},
        f"/operator/officials/{official.id}/disable": {"csrftoken"},
    }
    # The two that need typing open their own page (GET: nothing changes until that page's form is sent).
    for opens in (f"/operator/officials/{official.id}/roles", f"/operator/officials/{official.id}/password"):
        assert f'<form method="get" action="{opens}"' in row(page, "hotich.badinh")
    for label in ("Revoke role", "Reset second factor", "Disable account", "Reset password"):
        assert vi(label) in row(page, "hotich.badinh")
    # One's own row offers no way to lock oneself out (its only grant is the operator role).
    assert forms(row(page, "quantri")) == {}
    assert f"/operator/officials/{operator.id}/disable" not in page


async def test_disabling_asks_for_confirmation_then_ends_the_officials_sessions(
    web: AsyncClient, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official()
    token = await log_in(id_ctx, "hotich.badinh")
    action = f"/operator/officials/{official.id}/disable"

    confirm = await post(web, action, {})
    assert confirm.status_code == 200
    assert vi("Disable the account of {name}?", name="hotich.badinh") in html.unescape(confirm.text)
    assert forms(confirm.text)[action] >= {"csrftoken", "confirm"}
    assert 'name="confirm" value="yes"' in confirm.text
    assert (await reload(db, official.id)).status == "active"
    assert await sessions.resolve(id_ctx, token) is not None

    done = await post(web, action, {"confirm": "yes"})
    assert location(done) == ("/operator/officials", {"done": ["disabled"], "account": [str(official.id)]})
    assert (await reload(db, official.id)).status == "disabled"
    assert await sessions.resolve(id_ctx, token) is None
    listed = (await web.get(done.headers["location"])).text
    assert notice(listed) == vi("Account {name} disabled. All its sessions have ended.", name="hotich.badinh")
    their_row = row(listed, "hotich.badinh")
    assert vi("Disabled") in their_row and f"/operator/officials/{official.id}/enable" in their_row

    enabled = await post(web, f"/operator/officials/{official.id}/enable", {})
    assert location(enabled)[1]["done"] == ["enabled"]
    assert notice((await web.get(enabled.headers["location"])).text) == vi(
        "Account {name} enabled again.", name="hotich.badinh"
    )
    assert (await reload(db, official.id)).status == "active"


async def test_a_notice_names_only_an_account_that_exists(web: AsyncClient) -> None:
    page = (await web.get(f"/operator/officials?done=disabled&account={uuid.uuid4()}")).text
    assert 'class="notice success"' not in page
    page = (await web.get("/operator/officials?done=nonsense&account=x")).text
    assert 'class="notice success"' not in page


async def test_changes_need_the_csrf_token(web: AsyncClient, make_official: Any, db: Any) -> None:
    official = await make_official()
    r = await web.post(
        f"/operator/officials/{official.id}/disable", data={"confirm": "yes", "csrftoken": "forged"}
    )
    assert r.status_code == 403
    r = await web.post(f"/operator/officials/{official.id}/password", data={"password": NEW_PASSWORD})
    assert r.status_code == 403
    assert (await reload(db, official.id)).status == "active"
    assert await audit_rows(db, "identity.official_disabled") == []
    assert await audit_rows(db, "identity.official_password_reset") == []


async def test_disabling_oneself_by_a_crafted_post_is_refused_with_the_reason(
    web: AsyncClient, operator: Account, db: Any
) -> None:
    r = await post(web, f"/operator/officials/{operator.id}/disable", {"confirm": "yes"})
    assert r.status_code == 409
    summary = re.search(r'<div class="error-summary".*?</div>', r.text, re.S)
    assert summary is not None
    assert vi("You cannot disable your own account") in html.unescape(summary.group(0))
    assert (await reload(db, operator.id)).status == "active"
    assert (await web.get("/operator/officials")).status_code == 200  # still logged in


async def test_revoking_a_role_from_the_page(web: AsyncClient, make_official: Any, db: Any) -> None:
    official = await make_official()
    async with db.uow(readonly=True) as uow:
        [grant] = await service.roles_of(uow, official.id)
    action = f"/operator/officials/roles/{grant.id}/revoke"
    confirm = await post(web, action, {})
    assert confirm.status_code == 200
    assert vi("Civil status officer") in confirm.text and "00004" in confirm.text
    assert await count(db, OfficialRole, OfficialRole.id == grant.id) == 1
    done = await post(web, action, {"confirm": "yes"})
    assert location(done)[1]["done"] == ["role_revoked"]
    assert await count(db, OfficialRole, OfficialRole.id == grant.id) == 0
    assert notice((await web.get(done.headers["location"])).text) == vi(
        "Role revoked from {name}.", name="hotich.badinh"
    )
    for bad in (str(grant.id), "abc", "99999999999999999999"):
        assert (
            await post(web, f"/operator/officials/roles/{bad}/revoke", {"confirm": "yes"})
        ).status_code == 404


async def test_granting_a_role_from_the_page(web: AsyncClient, make_official: Any, db: Any) -> None:
    official = await make_official()
    action = f"/operator/officials/{official.id}/roles"
    form = await web.get(action)
    assert form.status_code == 200
    assert forms(form.text)[action] == {"csrftoken", "agency", "role", "unit"}
    assert vi("Civil status officer") in form.text  # the roles it already holds

    bad = await post(web, action, {"agency": "", "role": "king", "unit": "4"})
    assert bad.status_code == 422
    assert field_error(bad.text, "agency") == vi("Enter the agency code")
    assert field_error(bad.text, "role") == vi("Unknown role")
    assert field_error(bad.text, "unit") == vi("Enter a province (2 digits) or commune (5 digits) code, or *")
    assert 'value="4"' in bad.text  # what was typed comes back

    same = await post(web, action, {"agency": "BTP", "role": "civil_status_officer", "unit": "00004"})
    assert same.status_code == 422
    assert field_error(same.text, "role") == vi("The official already holds this role")

    ok = await post(web, action, {"agency": "BCA", "role": "residence_officer", "unit": "00004"})
    assert location(ok)[1]["done"] == ["role_granted"]
    listed = (await web.get(ok.headers["location"])).text
    assert notice(listed) == vi("Role granted to {name}.", name="hotich.badinh")
    assert vi("Residence registration officer") in row(listed, "hotich.badinh")
    assert await count(db, OfficialRole, OfficialRole.account_id == official.id) == 2


async def test_resetting_the_second_factor_from_the_page_leads_the_official_to_enrol_again(
    web: AsyncClient, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official(totp=TOTP_SEED)
    pending = await log_in(id_ctx, "hotich.badinh")
    action = f"/operator/officials/{official.id}/second-factor/reset"
    confirm = await post(web, action, {})
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.text
    assert (await reload(db, official.id)).totp_secret is not None
    done = await post(web, action, {"confirm": "yes"})
    assert location(done)[1]["done"] == ["second_factor"]
    assert notice((await web.get(done.headers["location"])).text) == vi(
        "Second factor of {name} reset. They must set up an authenticator app at their next login.",
        name="hotich.badinh",
    )
    assert (await reload(db, official.id)).totp_secret is None
    assert await live_sessions(db, official.id) == 0
    assert await sessions.resolve(id_ctx, pending, pending=True) is None
    # Without a factor there is nothing to reset: refused with the reason, nothing recorded again.
    again = await post(web, action, {"confirm": "yes"})
    assert again.status_code == 409
    assert vi("This account has no second factor to reset") in html.unescape(again.text)
    assert len(await audit_rows(db, "identity.official_totp_reset")) == 1

    # The official, in their own browser, is sent to enrol a new app when level 2 is asked for.
    await post(web, "/logout", {})
    r = await post(
        web,
        "/login",
        {"username": "hotich.badinh", "password": OFFICIAL_PASSWORD, "level": "2", "next": "/account"},
    )
    assert location(r) == ("/account/second-factor", {"next": ["/account"], "required": ["1"]})


async def test_resetting_a_password_from_the_page(
    web: AsyncClient, make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official()
    token = await log_in(id_ctx, "hotich.badinh")
    action = f"/operator/officials/{official.id}/password"
    form = await web.get(action)
    assert form.status_code == 200
    assert forms(form.text)[action] == {"csrftoken", "password"}
    assert 'autocomplete="new-password"' in form.text

    weak = await post(web, action, {"password": "password123"})
    assert weak.status_code == 422
    assert field_error(weak.text, "password")
    assert "password123" not in weak.text
    assert await sessions.resolve(id_ctx, token) is not None

    ok = await post(web, action, {"password": NEW_PASSWORD})
    assert location(ok)[1]["done"] == ["password"]
    assert notice((await web.get(ok.headers["location"])).text) == vi(
        "Password of {name} reset and all their sessions ended. Give them the new password in person.",
        name="hotich.badinh",
    )
    assert await sessions.resolve(id_ctx, token) is None
    assert await sessions.resolve(id_ctx, await log_in(id_ctx, "hotich.badinh", NEW_PASSWORD)) is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/operator/officials/{id}/disable"),
        ("post", "/operator/officials/{id}/enable"),
        ("post", "/operator/officials/{id}/second-factor/reset"),
        ("get", "/operator/officials/{id}/password"),
        ("post", "/operator/officials/{id}/password"),
        ("get", "/operator/officials/{id}/roles"),
        ("post", "/operator/officials/{id}/roles"),
    ],
)
async def test_unknown_officials_and_citizens_are_404(
    web: AsyncClient, make_citizen: Any, method: str, path: str
) -> None:
    citizen = await make_citizen()
    for target in (str(uuid.uuid4()), "not-a-uuid", str(citizen.id)):
        url = path.format(id=target)
        r = await (post(web, url, {"confirm": "yes"}) if method == "post" else web.get(url))
        assert r.status_code == 404, (url, r.status_code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/operator/officials/{id}/disable"),
        ("post", "/operator/officials/{id}/enable"),
        ("post", "/operator/officials/{id}/second-factor/reset"),
        ("get", "/operator/officials/{id}/password"),
        ("post", "/operator/officials/{id}/password"),
        ("get", "/operator/officials/{id}/roles"),
        ("post", "/operator/officials/{id}/roles"),
        ("post", "/operator/officials/roles/{role}/revoke"),
    ],
)
async def test_the_pages_need_an_operator_at_level_2(
    client: AsyncClient,
    id_web_ctx: IdentityContext,
    make_official: Any,
    db: Any,
    method: str,
    path: str,
) -> None:
    official = await make_official(totp=TOTP_SEED)
    async with db.uow(readonly=True) as uow:
        [grant] = await service.roles_of(uow, official.id)
    url = path.format(id=official.id, role=grant.id)
    data = {"confirm": "yes", "password": NEW_PASSWORD, "agency": "BCA", "role": "operator", "unit": "*"}

    async def send() -> Response:
        return await (post(client, url, data) if method == "post" else client.get(url))

    anonymous = await send()
    assert location(anonymous) == ("/login", {"next": [url], "level": ["2"]})
    # An operator who logged in with the password alone (no second factor enrolled yet).
    await make_official("quantri", role="operator", agency="DGOV", unit="*")
    await post(client, "/login", {"username": "quantri", "password": OFFICIAL_PASSWORD})
    level_1 = await send()
    assert level_1.status_code == 403
    assert vi("Operators must log in with their second factor (level 2)") in html.unescape(level_1.text)
    after = await reload(db, official.id)
    assert (after.status, after.totp_secret is not None) == ("active", True)
    assert await count(db, OfficialRole, OfficialRole.account_id == official.id) == 1
    assert await audit_rows(db, "identity.official_password_reset") == []
