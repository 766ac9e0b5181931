"""Exchange fixtures: the demo directory on the test database, Nguyễn Văn An in the population
registry, and an external agency application (its own key, not held by the node)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dgov.exchange import demo as exchange_demo
from dgov.exchange import directory, directory_rights, httpsig
from dgov.identity import SYSTEM
from dgov.registries import RegistriesContext, create_record
from dgov.web.runtime import Runtime

AN = "001090012345"
INSTANCE = "VN"
POPULATION = "VN/GOV/BCA/CSDLQGDC/population"
PURPOSE = "Giải quyết hồ sơ khai sinh"


def person(id_number: str = AN, name: str = "Nguyễn Văn An") -> dict[str, Any]:
    surname, *middle, given = name.split()
    return {
        "id_number": id_number,
        "surname": surname,
        "middle_name": " ".join(middle),
        "given_name": given,
        "full_name": name,
        "birth_date": "1990-03-15",
        "sex": "M",
        "nationality": "VN",
        "status": "alive",
        "permanent_address": {"street": "1 Phố Đội Cấn", "commune_code": "00004", "province_code": "01"},
    }


@dataclass
class App:
    """An agency application outside the node: it holds its own private key."""

    client: str
    key: httpsig.PrivateKey
    keyid: str


async def external_app(rt: Runtime, code: str, *, p256: bool = False, grant: str | None = POPULATION) -> App:
    key: httpsig.PrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if p256 else Ed25519PrivateKey.generate()
    )
    new = await directory.add_subsystem(
        rt.db,
        SYSTEM,
        member="GOV/BTP",
        code=code,
        public_key_pem=httpsig.public_pem(key.public_key()),
        instance=INSTANCE,
    )
    client = f"{INSTANCE}/GOV/BTP/{code}"
    if grant:
        await directory_rights.grant(rt.db, SYSTEM, client=client, service=grant)
    return App(client, key, new.key_id)


@pytest.fixture
async def xrt(runtime: Runtime) -> Runtime:
    await exchange_demo.load(runtime)
    await create_record(RegistriesContext(db=runtime.db), SYSTEM, "population", person())
    return runtime


@pytest.fixture
async def app_ed(xrt: Runtime) -> App:
    return await external_app(xrt, "APP-ED")


@pytest.fixture
async def app_p256(xrt: Runtime) -> App:
    return await external_app(xrt, "APP-P256", p256=True)
