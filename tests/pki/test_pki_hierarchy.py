"""The hierarchy `init_pki` builds, checked by code paths other than the one that built it:
asn1crypto for the encoding, pyhanko-certvalidator for path validation, the key files as bytes on disk."""

from __future__ import annotations

import os
import stat

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, RevokedError
from sqlalchemy import select

from dgov.kernel.config import Settings
from dgov.kernel.errors import Conflict, NotFound, ValidationFailed
from dgov.kernel.models import AuditRecord, OutboxMessage
from dgov.kernel.uow import Database
from dgov.pki import (
    agencies,
    init_pki,
    issue_agency_certificate,
    keystore,
    list_certificates,
    revoke_agency_certificate,
    rotate_agency_certificate,
    signing_material,
)
from dgov.pki.revocation import crl_der
from dgov.pki.service import CertInfo
from dgov.pki.tsa import POLICY_OID


def by_kind(certs: list[CertInfo], kind: str, name: str | None = None) -> CertInfo:
    (found,) = [
        c for c in certs if c.kind == kind and (name is None or c.name == name) and c.status == "valid"
    ]
    return found


def asn1(c: CertInfo) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(c.der)


async def crls(settings: Settings, db: Database) -> list[bytes]:
    async with db.uow(readonly=True) as uow:
        return [await crl_der(uow.session, settings, ca) for ca in ("root", "issuing")]


async def test_init_creates_the_hierarchy_once(settings: Settings, db: Database) -> None:
    created = await init_pki(settings, db)
    kinds = sorted((c.kind, c.name) for c in created)
    assert ("root", "root") in kinds and ("issuing", "issuing") in kinds
    assert ("tsa", "tsa") in kinds and ("ocsp", "ocsp") in kinds
    assert {n for k, n in kinds if k == "agency"} == {a.code for a in agencies()}
    assert await init_pki(settings, db) == []
    assert len(await list_certificates(db)) == len(created)


async def test_profile_of_each_certificate(pki: Database, settings: Settings) -> None:
    certs = await list_certificates(pki)
    root, issuing = asn1(by_kind(certs, "root")), asn1(by_kind(certs, "issuing"))
    tsa, ocsp = asn1(by_kind(certs, "tsa")), asn1(by_kind(certs, "ocsp"))
    btp = asn1(by_kind(certs, "agency", "BTP"))

    assert root.self_signed == "maybe" and root.ca and issuing.ca
    assert issuing.issuer == root.subject and btp.issuer == issuing.subject
    assert issuing.max_path_length == 0
    assert root.public_key.curve == ("named", "secp256r1")
    assert root.key_usage_value.native == {"key_cert_sign", "crl_sign"}

    # Vietnamese names, encoded as UTF8String (countryName stays PrintableString, as X.520 requires).
    rdns = {
        type_and_value["type"].native: type_and_value["value"]
        for rdn in btp.subject.chosen
        for type_and_value in rdn
    }
    assert rdns["common_name"].native == "Bộ Tư pháp"
    assert rdns["common_name"].name == "utf8_string"
    assert rdns["organization_name"].name == "utf8_string"
    assert rdns["country_name"].name == "printable_string"

    assert btp.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert btp.critical_extensions >= {"key_usage", "basic_constraints"}
    base = settings.issuer
    assert btp.ocsp_urls == [f"{base}/pki/ocsp"]
    assert btp.crl_distribution_points[0]["distribution_point"].native == [f"{base}/pki/crl/issuing.crl"]
    assert issuing.crl_distribution_points[0]["distribution_point"].native == [f"{base}/pki/crl/root.crl"]
    ca_issuers = [
        ad["access_location"].native
        for ad in btp.authority_information_access_value
        if ad["access_method"].native == "ca_issuers"
    ]
    assert ca_issuers == [f"{base}/pki/ca/issuing.cer"]

    assert tsa.extended_key_usage_value.native == ["time_stamping"]
    assert "extended_key_usage" in tsa.critical_extensions
    assert ocsp.extended_key_usage_value.native == ["ocsp_signing"]
    assert ocsp.ocsp_no_check_value is not None
    assert POLICY_OID.startswith("2.25.")


async def test_chain_validates_to_the_root_only(pki: Database, settings: Settings) -> None:
    certs = await list_certificates(pki)
    root, issuing = asn1(by_kind(certs, "root")), asn1(by_kind(certs, "issuing"))
    vc = ValidationContext(
        trust_roots=[root], other_certs=[issuing], crls=await crls(settings, pki), revocation_mode="require"
    )
    for kind, name, eku in (("agency", "BHXH", None), ("tsa", None, {"time_stamping"})):
        leaf = asn1(by_kind(certs, kind, name))
        path = await CertificateValidator(leaf, validation_context=vc).async_validate_usage(
            {"digital_signature"}, extended_key_usage=eku
        )
        assert [c.subject for c in path] == [root.subject, issuing.subject, leaf.subject]

    # Not trusting this node's root, nothing validates (no system trust store sneaks in).
    other = ValidationContext(trust_roots=[asn1(by_kind(certs, "agency", "BTC"))], other_certs=[issuing])
    with pytest.raises(PathBuildingError):
        await CertificateValidator(
            asn1(by_kind(certs, "agency", "BTP")), validation_context=other
        ).async_validate_usage({"digital_signature"})


async def test_revoked_certificate_fails_path_validation(pki: Database, settings: Settings) -> None:
    certs = await list_certificates(pki)
    btp = by_kind(certs, "agency", "BTP")
    await revoke_agency_certificate(settings, pki, "btp", reason="keyCompromise")
    vc = ValidationContext(
        trust_roots=[asn1(by_kind(certs, "root"))],
        other_certs=[asn1(by_kind(certs, "issuing"))],
        crls=await crls(settings, pki),
        revocation_mode="require",
    )
    with pytest.raises(RevokedError):
        await CertificateValidator(asn1(btp), validation_context=vc).async_validate_usage({"non_repudiation"})
    with pytest.raises(Conflict):
        await signing_material(settings, pki, "BTP")
    with pytest.raises(NotFound):
        await revoke_agency_certificate(settings, pki, "BTP")  # nothing valid left to revoke


async def test_bad_input_changes_nothing(pki: Database, settings: Settings) -> None:
    before = await list_certificates(pki)
    with pytest.raises(NotFound):
        await issue_agency_certificate(settings, pki, "NOPE")
    with pytest.raises(ValidationFailed):
        await revoke_agency_certificate(settings, pki, "BTP", reason="becauseISaidSo")
    with pytest.raises(NotFound):
        await revoke_agency_certificate(settings, pki, "BTP", serial="abcdef")
    assert [c.as_json() for c in await list_certificates(pki)] == [c.as_json() for c in before]


async def test_issue_keeps_the_old_certificate_rotate_supersedes_it(
    pki: Database, settings: Settings
) -> None:
    first = by_kind(await list_certificates(pki), "agency", "BHXH")
    second = await issue_agency_certificate(settings, pki, "BHXH")
    statuses = {c.serial: c.status for c in await list_certificates(pki, kind="agency", name="BHXH")}
    assert statuses == {first.serial: "valid", second.serial: "valid"}
    assert (await signing_material(settings, pki, "BHXH")).serial == second.serial

    new, old = await rotate_agency_certificate(settings, pki, "BHXH")
    assert old is not None and old.serial == second.serial and old.revocation_reason == "superseded"
    assert new.serial not in (first.serial, second.serial)
    material = await signing_material(settings, pki, "BHXH")
    assert material.serial == new.serial
    # A new key, not a re-certified old one.
    assert material.certificate.public_key.dump() != asn1(second).public_key.dump()
    # An explicit serial revokes that certificate, not the current one.
    await revoke_agency_certificate(settings, pki, "BHXH", serial=first.serial, reason="affiliationChanged")
    statuses = {c.serial: c.status for c in await list_certificates(pki, kind="agency", name="BHXH")}
    assert statuses == {first.serial: "revoked", second.serial: "revoked", new.serial: "valid"}


async def test_private_keys_are_encrypted_at_rest(pki: Database, settings: Settings) -> None:
    certs = await list_certificates(pki)
    assert len(certs) >= 12
    for c in certs:
        path = keystore.key_dir(settings) / c.key_file
        raw = path.read_bytes()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert raw.startswith(b"fernet:v1:")
        key = keystore.load_key(settings, c.key_file)
        scalar = key.private_numbers().private_value.to_bytes(32, "big")
        pkcs8 = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        assert b"PRIVATE KEY" not in raw and scalar not in raw and pkcs8 not in raw
        assert scalar.hex().encode() not in raw
        # and the key in the file is the certificate's key
        assert key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == c.x509().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    assert stat.S_IMODE(os.stat(keystore.key_dir(settings)).st_mode) == 0o700
    # Without the node secret the files are useless.
    one = keystore.key_dir(settings) / certs[0].key_file
    with pytest.raises(ValueError):
        keystore._load(str(one), "another-secret")
    # The database row holds no key material either.
    for c in certs:
        scalar = keystore.load_key(settings, c.key_file).private_numbers().private_value.to_bytes(32, "big")
        assert scalar not in c.der and c.key_file.encode() not in c.der


async def test_changes_are_audited_and_revocations_published(pki: Database, settings: Settings) -> None:
    revoked = await revoke_agency_certificate(
        settings, pki, "BNNMT", reason="privilegeWithdrawn", actor="operator:quantri"
    )
    async with pki.uow(readonly=True) as uow:
        audit = (
            (
                await uow.session.execute(
                    select(AuditRecord)
                    .where(AuditRecord.object_type == "pki_certificate")
                    .order_by(AuditRecord.seq)
                )
            )
            .scalars()
            .all()
        )
        events = (
            (
                await uow.session.execute(
                    select(OutboxMessage).where(OutboxMessage.topic == "pki.certificate_revoked")
                )
            )
            .scalars()
            .all()
        )
    issued = [a for a in audit if a.action == "pki.certificate_issued"]
    assert len(issued) == len(await list_certificates(pki))
    (last,) = [a for a in audit if a.action == "pki.certificate_revoked"]
    assert last.object_id == revoked.serial and last.actor == "operator:quantri"
    assert last.details["reason"] == "privilegeWithdrawn" and last.details["name"] == "BNNMT"
    (event,) = events
    assert event.payload["serial"] == revoked.serial and event.payload["reason"] == "privilegeWithdrawn"
