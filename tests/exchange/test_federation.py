"""Three real nodes: a directory (central) node and two agency nodes, each its own `dgov serve` process
and SQLite database on loopback. The operator registers both agencies and their keys at the centre, the
agency nodes fetch the signed directory, then each agency's application calls the other node's
service through that node's gateway and checks the response against that node's key. A key revoked
at the centre stops working on an agency node after its next sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from federation_support import Federation

from dgov.exchange import ExchangeClient, httpsig

# Each `dgov` command is a fresh Python process: on a busy 2-core machine a dozen of them take minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

AN = "001090012345"
PEOPLE = (
    "id_number,surname,middle_name,given_name,full_name,birth_date,sex,nationality,status,"
    "permanent_address.street,permanent_address.commune_code,permanent_address.province_code\n"
    f"{AN},Nguyễn,Văn,An,Nguyễn Văn An,1990-03-15,M,VN,alive,1 Phố Đội Cấn,00004,01\n"
)
POPULATION = "VN/GOV/BCA/CSDLQGDC/population"
CIVIL_STATUS = "VN/GOV/BTP/HOTICH/civil_status"


def write_key(path: Path, key: httpsig.PrivateKey) -> Path:
    path.write_text(httpsig.public_pem(key.public_key()))
    return path


async def test_three_nodes_register_sync_and_call_each_other(tmp_path: Path) -> None:
    btp_key = Ed25519PrivateKey.generate()  # the justice ministry's application (on node A)
    bca_key = ec.generate_private_key(ec.SECP256R1())  # the police's application (on node B), P-256
    with Federation(tmp_path) as fed:
        central = fed.node("central")
        a = fed.node("agency-btp")
        b = fed.node("agency-bca")
        (b.home / "people.csv").write_text(PEOPLE, encoding="utf-8")
        b.cli("registries", "import", "population", "people.csv")

        # The operator at the centre registers both agencies, their subsystems (with the node serving
        # each) and keys, publishes the registries' services and grants the rights.
        central.cli("exchange", "add-member", "--class", "GOV", "--code", "BTP", "--name", "Bộ Tư pháp")
        central.cli("exchange", "add-member", "--class", "GOV", "--code", "BCA", "--name", "Bộ Công an")
        out = central.cli(
            "exchange",
            "add-subsystem",
            "--member",
            "GOV/BTP",
            "--code",
            "HOTICH",
            "--public-key",
            str(write_key(tmp_path / "btp.pem", btp_key)),
            "--server-url",
            a.url,
        ).stdout
        btp_kid = out.strip().splitlines()[-1]
        assert btp_kid == httpsig.jwk_thumbprint(btp_key.public_key())
        out = central.cli(
            "exchange",
            "add-subsystem",
            "--member",
            "GOV/BCA",
            "--code",
            "CSDLQGDC",
            "--public-key",
            str(write_key(tmp_path / "bca.pem", bca_key)),
            "--server-url",
            b.url,
        ).stdout
        bca_kid = out.strip().splitlines()[-1]
        central.cli("exchange", "publish-registries")
        services = {s["address"]: s for s in json.loads(central.cli("exchange", "services", "--json").stdout)}
        assert {"method": "GET", "path": "/records/{key}"} in [
            {"method": o["method"], "path": o["path"]} for o in services[POPULATION]["operations"]
        ]
        assert services[POPULATION]["server_url"] == b.url
        central.cli("exchange", "grant", "--client", "VN/GOV/BTP/HOTICH", "--service", POPULATION)
        central.cli("exchange", "grant", "--client", "VN/GOV/BCA/CSDLQGDC", "--service", CIVIL_STATUS)

        fed.start_all()
        central_key = tmp_path / "central-node.pem"
        central_key.write_text(central.cli("exchange", "node-key").stdout)
        for node in (a, b):
            synced = node.cli(
                "exchange", "sync", "--central-url", central.url, "--central-key", str(central_key)
            ).stdout
            assert "members: 2" in synced and "rights: 2" in synced

        # A node refuses a directory signed by anyone but the pinned central key.
        wrong = tmp_path / "wrong.pem"
        wrong.write_text(a.cli("exchange", "node-key").stdout)
        refused = a.cli(
            "exchange", "sync", "--central-url", central.url, "--central-key", str(wrong), check=False
        )
        assert refused.returncode == 2

        b_key = b.cli("exchange", "node-key").stdout
        a_key = a.cli("exchange", "node-key").stdout
        # Justice (node A's application) reads a person from the police's node B.
        async with ExchangeClient(
            b.url, client="VN/GOV/BTP/HOTICH", private_key=btp_key, node_public_key=b_key
        ) as c:
            r = await c.get(
                POPULATION, f"/records/{AN}", purpose="Đăng ký khai sinh", subject=AN, dossier="D-1"
            )
            assert r.status == 200 and r.verified, r.body
            assert r.json()["data"]["full_name"] == "Nguyễn Văn An"
            assert r.keyid != httpsig.jwk_thumbprint(httpsig.load_public_pem(a_key))
        # The police (node B's application) ask node A's civil status service.
        async with ExchangeClient(
            a.url, client="VN/GOV/BCA/CSDLQGDC", private_key=bca_key, keyid=bca_kid, node_public_key=a_key
        ) as c:
            r = await c.get(CIVIL_STATUS, "/records/KS-1/exists")
            assert r.status == 200 and r.verified and r.json()["exists"] is False
            # …but has no right to node A's other services.
            denied = await c.get("VN/GOV/BTP/HOTICH/population", "/records/x", purpose="x")
            assert denied.status in (403, 404)

        # Node B logged the exchange and the person's access log names the agency.
        assert "message log intact" in b.cli("exchange", "log", "verify").stdout
        access = b.cli("registries", "access-log", AN, "--json").stdout
        assert "Bộ Tư pháp" in access and "Đăng ký khai sinh" in access

        # The centre revokes the justice key; after node B's next sync, its gateway refuses it.
        central.cli("exchange", "revoke-key", btp_kid)
        b.cli("exchange", "sync", "--central-url", central.url, "--central-key", str(central_key))
        async with ExchangeClient(
            b.url, client="VN/GOV/BTP/HOTICH", private_key=btp_key, node_public_key=b_key
        ) as c:
            r = await c.get(POPULATION, f"/records/{AN}", purpose="Đăng ký khai sinh")
            assert r.status == 401 and r.json()["code"] == "key-revoked"
