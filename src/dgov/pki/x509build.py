"""Building the node's certificates (RFC 5280 profile) with `cryptography`.

Names are Vietnamese in UTF8String (the default for every attribute but countryName, which X.520
requires as PrintableString). All keys are ECDSA P-256 with SHA-256: see docs/adr/0010-pki.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)

Kind = Literal["root", "issuing", "tsa", "ocsp", "agency"]

# RFC 9336 id-kp-documentSigning: says what agency keys are for, so they cannot pass as TLS or e-mail keys.
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

VALIDITY: dict[str, timedelta] = {
    "root": timedelta(days=20 * 365),
    "issuing": timedelta(days=10 * 365),
    # A timestamp stays verifiable only while its TSA certificate is valid: long, like the issuing CA.
    "tsa": timedelta(days=10 * 365),
    "ocsp": timedelta(days=5 * 365),
    "agency": timedelta(days=3 * 365),
}
# Tolerates a validator's clock a little behind ours.
BACKDATE = timedelta(minutes=10)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def subject_name(common_name: str, organization: str, unit: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


@dataclass(frozen=True)
class Urls:
    """Where validators fetch what the node serves (from settings.public_url)."""

    base: str

    def crl(self, ca: str) -> str:
        return f"{self.base}/pki/crl/{ca}.crl"

    def ca_cert(self, ca: str) -> str:
        # DER, as RFC 5280 §4.2.2.1 expects behind an HTTP caIssuers URI.
        return f"{self.base}/pki/ca/{ca}.cer"

    @property
    def ocsp(self) -> str:
        return f"{self.base}/pki/ocsp"


def build_certificate(
    *,
    kind: Kind,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    urls: Urls,
    now: datetime,
) -> x509.Certificate:
    not_before = now - BACKDATE
    not_after = now + VALIDITY[kind]
    if issuer is not None:
        # A certificate must not outlive the CA that vouches for it.
        not_after = min(not_after, issuer.not_valid_after_utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    is_ca = kind in ("root", "issuing")
    b = b.add_extension(
        x509.BasicConstraints(ca=is_ca, path_length=0 if kind == "issuing" else None), critical=True
    )
    b = b.add_extension(_key_usage(kind), critical=True)
    if kind == "tsa":
        # RFC 3161 §2.3: the TSA certificate carries exactly this EKU, marked critical.
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    elif kind == "ocsp":
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        # RFC 6960 §4.2.2.2.1: validators need not check the responder's own status (short of a loop).
        b = b.add_extension(x509.OCSPNoCheck(), critical=False)
    elif kind == "agency":
        b = b.add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
    if issuer is not None:
        issuer_ca = "root" if kind == "issuing" else "issuing"
        b = b.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(urls.crl(issuer_ca))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls.ca_cert(issuer_ca)),
            )
        ]
        if kind in ("tsa", "agency"):
            access.insert(
                0,
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
                ),
            )
        b = b.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _key_usage(kind: Kind) -> x509.KeyUsage:
    ca = kind in ("root", "issuing")
    signer = kind in ("tsa", "agency")
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=signer,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
