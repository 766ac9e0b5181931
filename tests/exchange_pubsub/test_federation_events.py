"""Two real nodes: the justice ministry's node publishes person.born; the social insurance agency's node
subscribes to it through the first node's member API (signed by its application's registered key) and
receives the signed event in its inbox. Each node is its own `dgov serve` process and SQLite database on
loopback (harness: tests/exchange/federation_support.py)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dgov.exchange import httpsig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exchange"))
from federation_support import Federation

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = 120.0


def signed(
    client: str, key: Ed25519PrivateKey, keyid: str, method: str, url: str, body: bytes
) -> dict[str, str]:
    h = {
        "information-mediator-client": client,
        "content-digest": httpsig.content_digest(body),
        "content-type": "application/json",
    }
    h.update(
        httpsig.sign(
            httpsig.Message(method=method, target_uri=url, headers=h),
            key=key,
            keyid=keyid,
            components=("@method", "@target-uri", "content-digest", "information-mediator-client"),
            created=int(time.time()),
            nonce=uuid.uuid4().hex,
        )
    )
    return h


def test_an_agency_node_receives_the_other_nodes_births(tmp_path: Path) -> None:
    app_key = Ed25519PrivateKey.generate()  # social insurance's application, held by the agency
    (tmp_path / "bhyt.pem").write_text(httpsig.public_pem(app_key.public_key()))
    with Federation(tmp_path) as fed:
        justice = fed.node("node-btp")
        insurance = fed.node("node-bhxh")
        # At the justice node: the agency and its application's key, as for gateway calls.
        justice.cli("exchange", "add-member", "--class", "GOV", "--code", "BHXH", "--name", "Bảo hiểm xã hội")
        out = justice.cli(
            "exchange",
            "add-subsystem",
            "--member",
            "GOV/BHXH",
            "--code",
            "BHYT",
            "--public-key",
            str(tmp_path / "bhyt.pem"),
        ).stdout
        keyid = out.strip().splitlines()[-1]
        # At the insurance node: trust the justice node's key for deliveries into its inbox.
        (tmp_path / "btp-node.pem").write_text(justice.cli("exchange", "node-key").stdout.strip() + "\n")
        insurance.cli(
            "exchange", "trust-node", "--name", "node-btp", "--public-key", str(tmp_path / "btp-node.pem")
        )
        fed.start_all()

        url = justice.url + "/api/exchange/v1/subscriptions"
        body = json.dumps(
            {
                "event_type": "person.born",
                "url": insurance.url + "/api/exchange/v1/inbox",
                "filters": {"province_code": "01"},
            }
        ).encode()
        r = httpx.post(
            url, content=body, headers=signed("VN/GOV/BHXH/BHYT", app_key, keyid, "POST", url, body)
        )
        assert r.status_code == 201, r.text

        data = {
            "id_number": "001226000123",
            "full_name": "Nguyễn Gia Bảo",
            "birth_date": "2026-11-18",
            "province_code": "01",
        }
        event_id = (
            justice.cli(
                "exchange",
                "publish-event",
                "--event",
                "person.born",
                "--data",
                json.dumps(data, ensure_ascii=False),
            )
            .stdout.strip()
            .splitlines()[-1]
        )

        # The justice node's own dispatcher delivers it: wait (bounded) for the insurance node's inbox.
        deadline = time.monotonic() + WAIT
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            rows = json.loads(insurance.cli("exchange", "inbox", "--json").stdout or "[]")
            if rows:
                break
            time.sleep(1)
        assert [r["event_id"] for r in rows] == [event_id]
        event = rows[0]["event"]
        assert isinstance(event, dict) and event["type"] == "person.born" and event["data"] == data
        assert event["source"] == "VN/GOV/BTP"

        deliveries = json.loads(justice.cli("exchange", "deliveries", "--json").stdout)
        assert [(d["status"], d["attempts"], d["last_status"]) for d in deliveries] == [("delivered", 1, 200)]
