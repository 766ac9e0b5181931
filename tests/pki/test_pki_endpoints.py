"""The node's PKI endpoints over HTTP, their answers parsed and checked by independent code: asn1crypto
(CRL), cryptography's OCSP module and pyhanko-certvalidator (OCSP), pyHanko's time-stamp validation (TSA)."""

from __future__ import annotations

import base64
import hashlib
import os
from urllib.parse import quote

import pytest
from asn1crypto import core, pem, tsp
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from httpx import AsyncClient
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import handle_tsp_response
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError

from dgov.kernel.config import Settings
from dgov.kernel.uow import Database
from dgov.pki import list_certificates, revoke_agency_certificate, root_certificate_pem
from dgov.pki.revocation import crl_der
from dgov.pki.service import CertInfo
from dgov.pki.tsa import POLICY_OID

OCSP_REQ = {"content-type": "application/ocsp-request"}
TSQ = {"content-type": "application/timestamp-query"}
DER = Encoding.DER


def current(certs: list[CertInfo], kind: str, name: str | None = None) -> CertInfo:
    (c,) = [c for c in certs if c.kind == kind and (name is None or c.name == name) and c.status == "valid"]
    return c


async def test_root_and_ca_certificates(client: AsyncClient, settings: Settings, db: Database) -> None:
    r = await client.get("/pki/root.pem")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-pem-file")
    assert r.content == await root_certificate_pem(settings, db)
    _t, _h, der = pem.unarmor(r.content)
    root = asn1_x509.Certificate.load(der)
    assert root.self_signed == "maybe"

    r = await client.get("/pki/ca/issuing.cer")
    assert r.headers["content-type"] == "application/pkix-cert"
    assert asn1_x509.Certificate.load(r.content).issuer == root.subject
    r = await client.get("/pki/ca/tsa.pem")
    assert b"BEGIN CERTIFICATE" in r.content
    for bad in ("/pki/ca/nope.pem", "/pki/ca/issuing.txt", "/pki/crl/tsa.crl", "/pki/crl/root.pem"):
        r = await client.get(bad)
        assert r.status_code == 404, bad
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_crl_lists_revoked_certificates(client: AsyncClient, settings: Settings, db: Database) -> None:
    await client.get("/pki/root.pem")  # the PKI appears on first use
    certs = await list_certificates(db)
    issuing = current(certs, "issuing").x509()

    r = await client.get("/pki/crl/issuing.crl")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pkix-crl"
    parsed = asn1_crl.CertificateList.load(r.content)
    tbs = parsed["tbs_cert_list"]
    assert tbs["issuer"].dump() == asn1_x509.Certificate.load(current(certs, "issuing").der).subject.dump()
    assert tbs["next_update"].native > tbs["this_update"].native
    assert not tbs["revoked_certificates"].native
    assert x509.load_der_x509_crl(r.content).is_signature_valid(issuing.public_key())

    btp = current(certs, "agency", "BTP")
    await revoke_agency_certificate(settings, db, "BTP", reason="keyCompromise")
    r = await client.get("/pki/crl/issuing.crl")
    entries = asn1_crl.CertificateList.load(r.content)["tbs_cert_list"]["revoked_certificates"]
    listed = {e["user_certificate"].native: e for e in entries}
    assert btp.serial_int in listed
    assert listed[btp.serial_int].crl_reason_value.native == "key_compromise"
    number_before = parsed.crl_number_value.native
    assert asn1_crl.CertificateList.load(r.content).crl_number_value.native > number_before

    root_crl = x509.load_der_x509_crl((await client.get("/pki/crl/root.crl")).content)
    assert root_crl.is_signature_valid(current(certs, "root").x509().public_key())
    assert len(root_crl) == 0


async def _ocsp(client: AsyncClient, request_der: bytes) -> ocsp.OCSPResponse:
    r = await client.post("/pki/ocsp", content=request_der, headers=OCSP_REQ)
    assert r.status_code == 200 and r.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(r.content)


def _check_signed_by_responder(resp: ocsp.OCSPResponse, issuing: x509.Certificate) -> None:
    (responder,) = resp.certificates
    responder.verify_directly_issued_by(issuing)
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku
    pub = responder.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert resp.signature_hash_algorithm is not None
    pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))


async def test_ocsp_good_then_revoked_with_nonce(
    client: AsyncClient, settings: Settings, db: Database
) -> None:
    await client.get("/pki/root.pem")
    certs = await list_certificates(db)
    issuing = current(certs, "issuing").x509()
    bca = current(certs, "agency", "BCA")
    nonce = os.urandom(16)
    req = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(bca.x509(), issuing, hashes.SHA1())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
        .public_bytes(DER)
    )
    resp = await _ocsp(client, req)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == bca.serial_int
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert resp.next_update_utc is not None and resp.next_update_utc > resp.this_update_utc
    _check_signed_by_responder(resp, issuing)

    await revoke_agency_certificate(settings, db, "BCA", reason="cessationOfOperation")
    resp = await _ocsp(client, req)
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason == x509.ReasonFlags.cessation_of_operation
    assert resp.revocation_time_utc is not None
    _check_signed_by_responder(resp, issuing)

    # GET form (RFC 6960 A.1), with and without percent-encoding of the base64.
    b64 = base64.b64encode(req).decode()
    for path in (f"/pki/ocsp/{quote(b64, safe='')}", f"/pki/ocsp/{b64}"):
        r = await client.get(path)
        assert ocsp.load_der_ocsp_response(r.content).certificate_status == ocsp.OCSPCertStatus.REVOKED

    # pyhanko-certvalidator, given only this OCSP response (no CRL), agrees.
    to_asn1 = asn1_x509.Certificate.load
    vc = ValidationContext(
        trust_roots=[to_asn1(current(certs, "root").der)],
        other_certs=[to_asn1(current(certs, "issuing").der)],
        ocsps=[(await client.post("/pki/ocsp", content=req, headers=OCSP_REQ)).content],
        revocation_mode="soft-fail",
    )
    with pytest.raises(RevokedError):
        await CertificateValidator(to_asn1(bca.der), validation_context=vc).async_validate_usage(
            {"non_repudiation"}
        )


async def test_ocsp_unknown_unauthorised_malformed(client: AsyncClient, db: Database) -> None:
    await client.get("/pki/root.pem")
    certs = await list_certificates(db)
    root, issuing = current(certs, "root").x509(), current(certs, "issuing").x509()
    good = (
        ocsp.OCSPRequestBuilder().add_certificate(
            current(certs, "agency", "BTC").x509(), issuing, hashes.SHA256()
        )
    ).build()
    unknown = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(good.issuer_name_hash, good.issuer_key_hash, 12345, hashes.SHA256())
        .build()
    )
    resp = await _ocsp(client, unknown.public_bytes(DER))
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN

    # The issuing CA's own status is answered by the root, which signs directly.
    resp = await _ocsp(
        client,
        ocsp.OCSPRequestBuilder().add_certificate(issuing, root, hashes.SHA1()).build().public_bytes(DER),
    )
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert resp.certificates == []
    pub = root.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey) and resp.signature_hash_algorithm is not None
    pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))

    foreign = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(b"\x01" * 32, b"\x02" * 32, 1, hashes.SHA256())
        .build()
        .public_bytes(DER)
    )
    assert (await _ocsp(client, foreign)).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert (await _ocsp(client, b"not DER")).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    r = await client.get("/pki/ocsp/@@@")
    assert ocsp.load_der_ocsp_response(r.content).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST

    r = await client.post("/pki/ocsp", content=good.public_bytes(DER), headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/pki/ocsp", content=b"\x30" * 20_000, headers=OCSP_REQ)
    assert r.status_code == 413


async def test_tsa_response_validates_with_pyhanko(
    client: AsyncClient, settings: Settings, db: Database
) -> None:
    await client.get("/pki/root.pem")
    certs = await list_certificates(db)
    digest = hashlib.sha256(b"trich luc khai sinh").digest()
    nonce, req = TimeStamper().request_cms(digest, "sha256")
    r = await client.post("/pki/tsa", content=req.dump(), headers=TSQ)
    assert r.status_code == 200 and r.headers["content-type"] == "application/timestamp-reply"
    resp = tsp.TimeStampResp.load(r.content)
    token = handle_tsp_response(resp, nonce)  # checks status granted and the nonce echo
    signed_data = token["content"]
    info = signed_data["encap_content_info"]["content"].parsed
    assert info["policy"].dotted == POLICY_OID
    assert info["message_imprint"]["hashed_message"].native == digest

    async with db.uow(readonly=True) as uow:
        crls = [await crl_der(uow.session, settings, ca) for ca in ("root", "issuing")]
    vc = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(current(certs, "root").der)],
        crls=crls,
        revocation_mode="require",
    )
    status = await validate_tst_signed_data(signed_data, vc, lambda _alg: digest)
    assert status["intact"] and status["valid"] and status["trust_problem_indic"] is None
    assert status["signing_cert"].subject.native["common_name"] == "Dịch vụ cấp dấu thời gian dgov"

    wrong = await validate_tst_signed_data(signed_data, vc, lambda _alg: b"\x00" * 32)
    assert not wrong["intact"]


class _StatusOnly(core.SequenceOf):  # type: ignore[misc]
    _child_spec = tsp.PKIStatusInfo


async def _tsa_failure(client: AsyncClient, body: bytes) -> tsp.PKIStatusInfo:
    r = await client.post("/pki/tsa", content=body, headers=TSQ)
    assert r.status_code == 200
    # A rejection is a SEQUENCE holding the status alone (no token), per RFC 3161 §2.4.2.
    outer = _StatusOnly.load(r.content)
    assert len(outer) == 1
    status = outer[0]
    assert status["status"].native == "rejection"
    return status


async def test_tsa_rejections(client: AsyncClient) -> None:
    def req(alg: str, digest: bytes, **extra: object) -> bytes:
        return tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {"hash_algorithm": {"algorithm": alg}, "hashed_message": digest},
                "cert_req": True,
                **extra,
            }
        ).dump()

    resp = await _tsa_failure(client, req("sha1", hashlib.sha1(b"x").digest()))
    assert resp["fail_info"].native == {"bad_alg"}
    resp = await _tsa_failure(client, req("sha256", b"short"))
    assert resp["fail_info"].native == {"bad_data_format"}
    resp = await _tsa_failure(client, req("sha256", hashlib.sha256(b"x").digest(), req_policy="1.2.3.4"))
    assert resp["fail_info"].native == {"unaccepted_policy"}
    resp = await _tsa_failure(client, b"garbage")
    assert resp["fail_info"].native == {"bad_data_format"}

    r = await client.post(
        "/pki/tsa",
        content=req("sha256", hashlib.sha256(b"x").digest()),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 415


async def test_certificate_listing(client: AsyncClient) -> None:
    r = await client.get("/pki/agencies")
    assert r.status_code == 200
    rows = {a["code"]: a for a in r.json()}
    assert rows["BTP"]["name"]["vi"] == "Bộ Tư pháp"
    assert rows["BTP"]["certificate"]["status"] == "valid"
    assert rows["BTP"]["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    listed = (await client.get("/pki/certificates")).json()
    assert {c["kind"] for c in listed} == {"root", "issuing", "tsa", "ocsp", "agency"}
