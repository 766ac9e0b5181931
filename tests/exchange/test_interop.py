"""Interoperability with an independent RFC 9421 implementation (the `http-message-signatures` package):
a client signing with it reads a person through the gateway, and the same library verifies the
gateway's signed response with the node's public key. Ed25519 and ECDSA P-256, on both databases."""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from exkit import AN, POPULATION, PURPOSE, App, external_app
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
)
from http_message_signatures import algorithms as algs
from httpx import AsyncClient
from sqlalchemy import select, text

from dgov.exchange import httpsig
from dgov.exchange.models import log_t
from dgov.kernel import clock
from dgov.web.runtime import Runtime

BASE = "http://testserver"


def library_signed_request(app: App, url: str, *, dossier: str = "000.00.12.H62-260105-0001") -> Any:
    alg = algs.ECDSA_P256_SHA256 if httpsig.algorithm_of(app.key) == httpsig.ECDSA_P256 else algs.ED25519
    req = SimpleNamespace(
        method="GET",
        url=url,
        headers={
            "Information-Mediator-Client": app.client,
            "X-Dgov-Purpose": quote(PURPOSE),
            "X-Dgov-Subject": AN,
            "X-Dgov-Dossier": dossier,
        },
    )
    signer = HTTPMessageSigner(
        signature_algorithm=alg,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={app.keyid: app.key}),
    )
    signer.sign(
        req,
        key_id=app.keyid,
        nonce=secrets.token_urlsafe(16),
        label="sig1",
        body=b"",
        created=clock.now(),
        covered_component_ids=(
            "@method",
            "@target-uri",
            "information-mediator-client",
            "x-dgov-purpose",
            "x-dgov-subject",
            "x-dgov-dossier",
        ),
    )
    return req


def library_verify_response(
    rt: Runtime, req: Any, status: int, headers: dict[str, str], body: bytes
) -> list[Any]:
    resp = SimpleNamespace(status_code=status, headers=headers, request=req)
    verifier = HTTPMessageVerifier(
        signature_algorithm=algs.ED25519,
        key_resolver=MappingKeyResolver(
            public_keys={rt.node_key.key_id: rt.node_key.public_key}, private_keys={}
        ),
    )
    return list(verifier.verify(resp, body=body, require_components=("@status", "content-digest")))


@pytest.mark.parametrize("p256", [False, True], ids=["ed25519", "ecdsa-p256"])
async def test_independent_client_reads_a_person_and_verifies_the_response(
    p256: bool, xrt: Runtime, client: AsyncClient
) -> None:
    app = await external_app(xrt, "APP-X", p256=p256)
    url = f"{BASE}/r1/{POPULATION}/records/{AN}"
    req = library_signed_request(app, url)
    r = await client.get(url, headers=dict(req.headers))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["full_name"] == "Nguyễn Văn An"

    results = library_verify_response(xrt, req, r.status_code, dict(r.headers), r.content)
    assert results and results[0].parameters["keyid"] == xrt.node_key.key_id
    covered = [str(c) for c in results[0].covered_components]
    assert any("@method" in c and "req" in c for c in covered)

    # A response altered on the way no longer verifies with the independent library either.
    with pytest.raises(InvalidSignature):
        library_verify_response(xrt, req, r.status_code, dict(r.headers), r.content.replace(b"An", b"Am"))

    # The person's access log (what /my-data shows) names the agency, the purpose and the dossier.
    async with xrt.db.uow(readonly=True) as uow:
        rows = (
            await uow.session.execute(
                text(
                    "SELECT accessor, accessor_name, purpose, dossier_code, channel FROM registry_access_log "
                    "WHERE subject_id = :s"
                ),
                {"s": AN},
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].accessor == f"client:{app.client}"
    assert rows[0].accessor_name == "Bộ Tư pháp"
    assert (rows[0].purpose, rows[0].dossier_code, rows[0].channel) == (
        PURPOSE,
        "000.00.12.H62-260105-0001",
        "exchange",
    )

    async with xrt.db.uow(readonly=True) as uow:
        entry = (await uow.session.execute(select(log_t).order_by(log_t.c.seq.desc()).limit(1))).one()
    assert (entry.outcome, entry.status, entry.client, entry.service) == ("ok", 200, app.client, POPULATION)
    assert entry.details["subject"] == "001******345"  # masked in the log
    assert entry.details["request_signature"].startswith("sig1=:")
    assert entry.details["response_signature"] == r.headers["signature"]
    assert entry.details["alg"] == httpsig.algorithm_of(app.key)
    assert AN not in entry.path
