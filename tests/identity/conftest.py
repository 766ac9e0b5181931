"""Identity fixtures: a context on the test database, a frozen clock, and factories for accounts.

Fixture names start with `id_` (or name what they make) so that other identity test modules (the OIDC
provider's) can add their own here without clashing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from typing import Protocol

import pytest
from idkit import OFFICIAL_PASSWORD, PASSWORD, T0, id_number_for

from dgov.identity import service
from dgov.identity.authz import SYSTEM
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.uow import Database
from dgov.web.runtime import Runtime


@pytest.fixture
def id_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock(T0)
    previous = clock.set_clock(frozen)
    yield frozen
    clock.set_clock(previous)


@pytest.fixture
def id_ctx(db: Database, id_clock: FrozenClock) -> IdentityContext:
    return IdentityContext(db=db, secret="test-secret", issuer="http://testserver")


@pytest.fixture
def id_web_ctx(runtime: Runtime, id_ctx: IdentityContext) -> IdentityContext:
    """The same context for the app under test (pages use the one in runtime.extras)."""
    runtime.extras["identity"] = id_ctx
    return id_ctx


class CitizenFactory(Protocol):
    def __call__(
        self,
        *,
        birth: date = ...,
        sex: str = ...,
        serial: str = ...,
        place: str = ...,
        full_name: str = ...,
        password: str | None = ...,
        totp: str | None = ...,
        phone: str | None = ...,
        email: str | None = ...,
    ) -> Awaitable[Account]: ...


@pytest.fixture
def make_citizen(id_ctx: IdentityContext) -> CitizenFactory:
    async def make(
        *,
        birth: date = date(1990, 3, 15),
        sex: str = "M",
        serial: str = "012345",
        place: str = "001",
        full_name: str = "Nguyễn Văn An",
        password: str | None = PASSWORD,
        totp: str | None = None,
        phone: str | None = "0912000001",
        email: str | None = None,
    ) -> Account:
        return await service.add_citizen(
            id_ctx,
            SYSTEM,
            id_number=id_number_for(birth, sex, place, serial),
            full_name=full_name,
            birth_date=birth,
            sex=sex,
            password=password,
            totp_secret=totp,
            phone=phone,
            email=email,
        )

    return make


OfficialFactory = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_official(id_ctx: IdentityContext) -> OfficialFactory:
    async def make(
        username: str = "hotich.badinh",
        *,
        role: str = "civil_status_officer",
        agency: str = "BTP",
        unit: str = "00004",
        totp: str | None = None,
        password: str = OFFICIAL_PASSWORD,
    ) -> Account:
        return await service.add_official(
            id_ctx,
            SYSTEM,
            username=username,
            agency=agency,
            role=role,
            unit=unit,
            password=password,
            full_name="Phạm Thu Hà",
            totp_secret=totp,
        )

    return make
