"""The gateway's checks, each rejected with an RFC 9457 problem, a signed response and a message-log
entry; the SDK over HTTP; the in-process call other domains use; metaservices. Both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exkit import AN, INSTANCE, POPULATION, PURPOSE, App, external_app
from httpx import AsyncClient
from sqlalchemy import select, text

from dgov.exchange import (
    ONE_STOP,
    ExchangeClient,
    ResponseNotTrusted,
    call_service,
    directory,
    directory_rights,
    httpsig,
)
from dgov.exchange.client import SignedRequest, Signer, verify_response
from dgov.exchange.models import log_t
from dgov.identity import SYSTEM
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.web.runtime import Runtime

BASE = "http://testserver"
URL = f"{BASE}/r1/{POPULATION}/records/{AN}"


def signed(app: App, url: str = URL, *, client: str | None = None, body: bytes = b"") -> SignedRequest:
    return Signer(client or app.client, app.key, app.keyid).sign("GET", url, body=body, purpose=PURPOSE)


async def send(http: AsyncClient, req: SignedRequest, *, body: bytes | None = None) -> httpx.Response:
    return await http.request(
        req.method, req.url, headers=req.headers, content=req.body if body is None else body
    )


async def log_entry(rt: Runtime, message_id: str) -> Any:
    async with rt.db.uow(readonly=True) as uow:
        return (await uow.session.execute(select(log_t).where(log_t.c.message_id == message_id))).one()


async def assert_refused(rt: Runtime, req: SignedRequest, r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert (problem["status"], problem["code"]) == (status, code)
    assert problem["title"]  # translated title
    # Refusals are signed by the node too, and logged with their outcome.
    verify_response(rt.node_key.public_key, req, r.status_code, dict(r.headers), r.content)
    entry = await log_entry(rt, r.headers["x-dgov-message-id"])
    assert (entry.status, entry.outcome) == (status, code)


async def no_access_logged(rt: Runtime) -> None:
    async with rt.db.uow(readonly=True) as uow:
        n = (await uow.session.execute(text("SELECT count(*) FROM registry_access_log"))).scalar_one()
    assert n == 0


async def test_unknown_client_and_unknown_service_are_404(
    xrt: Runtime, client: AsyncClient, app_ed: App
) -> None:
    req = signed(app_ed, client=f"{INSTANCE}/GOV/BTP/NOBODY")
    await assert_refused(xrt, req, await send(client, req), 404, "unknown-client")
    req = signed(app_ed, f"{BASE}/r1/{INSTANCE}/GOV/BCA/CSDLQGDC/nothing/records/{AN}")
    await assert_refused(xrt, req, await send(client, req), 404, "unknown-service")
    await no_access_logged(xrt)


async def test_missing_bad_or_tampered_signature_and_digest_are_401(
    xrt: Runtime, client: AsyncClient, app_ed: App
) -> None:
    req = signed(app_ed)
    del req.headers["signature"], req.headers["signature-input"]
    await assert_refused(xrt, req, await send(client, req), 401, "signature-missing")

    req = signed(app_ed)
    del req.headers["content-digest"]
    await assert_refused(xrt, req, await send(client, req), 401, "digest-missing")

    req = signed(app_ed)  # digest of an empty body, but a body is sent
    await assert_refused(xrt, req, await send(client, req, body=b'{"x":1}'), 401, "digest-mismatch")

    req = signed(app_ed)  # the signature was made for another person's record
    req.url = req.url.replace(AN, "001192034567")
    await assert_refused(xrt, req, await send(client, req), 401, "signature-invalid")

    other = await external_app(xrt, "OTHER")  # signed with a key that is not this client's
    req = Signer(app_ed.client, other.key, other.keyid).sign("GET", URL, purpose=PURPOSE)
    await assert_refused(xrt, req, await send(client, req), 401, "unknown-key")
    await no_access_logged(xrt)


@pytest.mark.parametrize(("shift", "code"), [(-6 * 60, "signature-stale"), (10 * 60, "signature-future")])
async def test_stale_or_future_created_is_401(
    xrt: Runtime, client: AsyncClient, app_ed: App, shift: int, code: str
) -> None:
    previous = clock.set_clock(FrozenClock(clock.now() + timedelta(seconds=shift)))
    try:
        req = signed(app_ed)
    finally:
        clock.set_clock(previous)
    await assert_refused(xrt, req, await send(client, req), 401, code)


async def test_a_replayed_nonce_is_401(xrt: Runtime, client: AsyncClient, app_ed: App) -> None:
    req = signed(app_ed)
    first = await send(client, req)
    assert first.status_code == 200, first.text
    await assert_refused(xrt, req, await send(client, req), 401, "signature-replay")


async def test_revoked_key_or_member_is_401(xrt: Runtime, client: AsyncClient, app_ed: App) -> None:
    await directory.revoke_key(xrt.db, SYSTEM, app_ed.keyid)
    req = signed(app_ed)
    await assert_refused(xrt, req, await send(client, req), 401, "key-revoked")

    fresh = await external_app(xrt, "FRESH")
    await directory.set_member_status(xrt.db, SYSTEM, "GOV/BTP", "revoked", instance=INSTANCE)
    req = signed(fresh)
    await assert_refused(xrt, req, await send(client, req), 401, "client-revoked")
    await no_access_logged(xrt)


async def test_no_access_right_is_403_and_reads_nothing(xrt: Runtime, client: AsyncClient) -> None:
    app = await external_app(xrt, "NORIGHT", grant=None)
    req = signed(app)
    await assert_refused(xrt, req, await send(client, req), 403, "no-access-right")
    await no_access_logged(xrt)
    # A right on one operation only does not open the others.
    await directory_rights.grant(
        xrt.db, SYSTEM, client=app.client, service=POPULATION, operation="recordExists"
    )
    req = signed(app, URL + "/exists")
    assert (await send(client, req)).json()["exists"] is True
    req = signed(app)
    await assert_refused(xrt, req, await send(client, req), 403, "no-access-right")


async def test_purpose_is_required_for_person_data(xrt: Runtime, client: AsyncClient, app_ed: App) -> None:
    req = Signer(app_ed.client, app_ed.key, app_ed.keyid).sign("GET", URL)
    await assert_refused(xrt, req, await send(client, req), 400, "purpose-required")
    await no_access_logged(xrt)


async def test_the_sdk_over_http_signs_and_verifies(xrt: Runtime, client: AsyncClient, app_ed: App) -> None:
    transport = client._transport  # the same ASGI app
    async with ExchangeClient(
        BASE,
        client=app_ed.client,
        private_key=app_ed.key,
        keyid=app_ed.keyid,
        node_public_key=xrt.node_key.public_pem(),
        transport=transport,
    ) as sdk:
        r = await sdk.get(POPULATION, f"/records/{AN}", purpose=PURPOSE, subject=AN, dossier="D-1")
        assert r.ok and r.verified and r.keyid == xrt.node_key.key_id
        assert r.json()["data"]["id_number"] == AN
        missing = await sdk.get(POPULATION, "/records/001199000000", purpose=PURPOSE)
        assert missing.status == 404 and missing.verified
        assert missing.json()["code"] == "not-found"
        meta = await sdk.metaservice(f"{INSTANCE}/GOV/BCA/CSDLQGDC", "listMethods")
        codes = {s["service_code"] for s in meta.json()["service"]}
        assert {"population", "residence"} <= codes
        allowed = await sdk.metaservice(f"{INSTANCE}/GOV/BCA/CSDLQGDC", "allowedMethods")
        assert [s["service_code"] for s in allowed.json()["service"]] == ["population"]
        doc = await sdk.metaservice(
            f"{INSTANCE}/GOV/BCA/CSDLQGDC", "getOpenAPI", {"serviceCode": "population"}
        )
        assert doc.json()["openapi"].startswith("3.") and "/records/{key}" in doc.json()["paths"]
        clients = await sdk.request("GET", INSTANCE, "/listClients")
        assert any(
            c["id"]["address"] == f"{INSTANCE}/GOV/UBND-00004/MOTCUA" for c in clients.json()["member"]
        )


async def test_a_response_from_another_key_is_not_trusted(
    xrt: Runtime, client: AsyncClient, app_ed: App
) -> None:

    impostor = httpsig.public_pem(Ed25519PrivateKey.generate().public_key())
    async with ExchangeClient(
        BASE,
        client=app_ed.client,
        private_key=app_ed.key,
        node_public_key=impostor,
        transport=client._transport,
    ) as sdk:
        with pytest.raises(ResponseNotTrusted):
            await sdk.get(POPULATION, f"/records/{AN}", purpose=PURPOSE)


async def test_in_process_call_goes_through_the_same_checks(xrt: Runtime) -> None:
    r = await call_service(
        xrt,
        client=f"{INSTANCE}/{ONE_STOP}",
        service=POPULATION,
        path=f"/records/{AN}",
        purpose="Điền sẵn tờ khai đăng ký khai sinh",
        subject=AN,
        dossier="000.00.12.H62-260105-0002",
    )
    assert r.status == 200 and r.verified
    assert r.json()["data"]["full_name"] == "Nguyễn Văn An"
    entry = await log_entry(xrt, r.message_id)
    assert (entry.client, entry.outcome) == (f"{INSTANCE}/{ONE_STOP}", "ok")
    async with xrt.db.uow(readonly=True) as uow:
        row = (
            await uow.session.execute(
                text("SELECT accessor_name, purpose, channel FROM registry_access_log WHERE subject_id = :s"),
                {"s": AN},
            )
        ).one()
    assert row.accessor_name.startswith("UBND phường Ba Đình")
    assert (row.purpose, row.channel) == ("Điền sẵn tờ khai đăng ký khai sinh", "exchange")
    # The one-stop centre has no right to civil status records: refused like a remote caller would be.
    refused = await call_service(
        xrt,
        client=f"{INSTANCE}/{ONE_STOP}",
        service=f"{INSTANCE}/GOV/BTP/HOTICH/civil_status",
        path="/records/X",
        purpose="x",
    )
    assert refused.status == 403 and refused.json()["code"] == "no-access-right"


async def test_x_road_client_header_alias(xrt: Runtime, client: AsyncClient, app_ed: App) -> None:

    headers = {
        "x-road-client": app_ed.client,
        "content-digest": httpsig.content_digest(b""),
        "x-dgov-purpose": quote(PURPOSE),
    }
    msg = httpsig.Message(method="GET", target_uri=URL, headers=headers)
    headers.update(
        httpsig.sign(
            msg,
            key=app_ed.key,
            keyid=app_ed.keyid,
            nonce="n-alias-1",
            created=int(clock.now().timestamp()),
            components=("@method", "@target-uri", "content-digest", "x-road-client", "x-dgov-purpose"),
        )
    )
    r = await client.get(URL, headers=headers)
    assert r.status_code == 200, r.text


# --- what the signature binds: the declared purpose, subject and dossier, and this node's address ----


async def test_a_purpose_changed_after_signing_is_refused(
    xrt: Runtime, client: AsyncClient, app_ed: App
) -> None:
    req = signed(app_ed)
    req.headers["x-dgov-purpose"] = quote("Tra cứu tùy ý")
    await assert_refused(xrt, req, await send(client, req), 401, "signature-invalid")
    await no_access_logged(xrt)


@pytest.mark.parametrize("declared", ["x-dgov-purpose", "x-dgov-subject", "x-dgov-dossier"])
async def test_a_declared_header_sent_but_not_signed_is_refused(
    declared: str, xrt: Runtime, client: AsyncClient, app_ed: App
) -> None:

    headers = {
        "information-mediator-client": app_ed.client,
        "content-digest": httpsig.content_digest(b""),
        declared: "000.00.12.H62-260105-0001" if declared == "x-dgov-dossier" else quote(PURPOSE),
    }
    msg = httpsig.Message(method="GET", target_uri=URL, headers=headers)
    headers.update(
        httpsig.sign(
            msg,
            key=app_ed.key,
            keyid=app_ed.keyid,
            nonce=f"n-unsigned-{declared}",
            created=int(clock.now().timestamp()),
            components=("@method", "@target-uri", "content-digest", "information-mediator-client"),
        )
    )
    req = SignedRequest("GET", URL, headers, b"")
    r = await send(client, req)
    await assert_refused(xrt, req, r, 401, "signature-coverage")
    assert declared in r.json()["detail"]
    await no_access_logged(xrt)


async def test_a_request_signed_for_another_node_is_refused(
    xrt: Runtime, client: AsyncClient, app_ed: App
) -> None:
    """Signed for node A (another base URL) and replayed here with A's Host header: this node checks the
    signature against its own configured address (http://testserver), not the Host the caller sent."""
    other = f"http://node-a.example/r1/{POPULATION}/records/{AN}"
    req = signed(app_ed, other)
    r = await client.get(other, headers=req.headers)
    assert r.request.headers["host"] == "node-a.example"
    assert r.status_code == 401 and r.json()["code"] == "signature-invalid", r.text
    entry = await log_entry(xrt, r.headers["x-dgov-message-id"])
    assert (entry.status, entry.outcome, entry.client) == (401, "signature-invalid", app_ed.client)
    await no_access_logged(xrt)
    # The same caller signing for this node's address is served: the refusal was the address alone.
    ok = signed(app_ed)
    assert (await send(client, ok)).status_code == 200
