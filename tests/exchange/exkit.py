"""Shared by the exchange tests: Nguyễn Văn An's population record, the service and purpose they read,
and an external agency application (its own key, not held by the node). A module of its own, not the
conftest, so that `from exkit import …` never picks up another folder's conftest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dgov.exchange import directory, directory_rights, httpsig
from dgov.identity import SYSTEM
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
