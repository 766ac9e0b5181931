"""The node's time-stamping authority (RFC 3161, with ESS signing-certificate-v2 per RFC 5816).

One function answers a `TimeStampReq`; the HTTP endpoint and the in-process `NodeTimeStamper` (what
pyHanko calls while signing) both use it, so a document signed offline by the CLI carries exactly the
token a remote client would have got.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar, cast

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.timestamps.api import TimeStamper

from dgov.kernel import clock
from dgov.kernel.ids import new_id

# The node's TSA policy. An OID under 2.25 (ITU-T X.667: a UUID as an OID) needs no registration.
POLICY_OID = "2.25.238906386514391843437425917384315826114"
ACCEPTED_DIGESTS = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class TsaSigner:
    cert: asn1_x509.Certificate
    key: ec.EllipticCurvePrivateKey
    # Sent along when the client sets certReq: the issuing CA, so the chain can be built offline.
    chain: tuple[asn1_x509.Certificate, ...] = ()


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    # asn1crypto's TimeStampResp marks the token as required, but RFC 3161 §2.4.2 leaves it out of
    # every rejection; this is the same structure with the field optional.
    _fields: ClassVar[list[Any]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _reject(*failures: str, text: str) -> _TimeStampResp:
    return _TimeStampResp(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": tsp.PKIStatus("rejection"),
                    "status_string": tsp.PKIFreeText([text]),
                    "fail_info": tsp.PKIFailureInfo(set(failures)),
                }
            )
        }
    )


def respond(
    signer: TsaSigner, req: tsp.TimeStampReq, now: datetime | None = None
) -> tsp.TimeStampResp | _TimeStampResp:
    """The response to one request: granted with a signed token, or rejected with the RFC 3161 reason."""
    try:
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        policy = req["req_policy"].native
        if req["version"].native != "v1":
            return _reject("bad_request", text="unsupported version")
        if req["extensions"].native:
            return _reject("unaccepted_extension", text="extensions are not supported")
    except (ValueError, TypeError, KeyError):
        return _reject("bad_data_format", text="malformed request")
    if algorithm not in ACCEPTED_DIGESTS:
        return _reject("bad_alg", text=f"digest algorithm {algorithm} is not accepted")
    if not isinstance(digest, bytes) or len(digest) != DIGEST_SIZES[algorithm]:
        return _reject("bad_data_format", text="the message imprint has the wrong length")
    if policy is not None and policy != POLICY_OID:
        return _reject("unaccepted_policy", text=f"only policy {POLICY_OID} is served")
    gen_time = (now or clock.now()).replace(microsecond=0)
    info: dict[str, object] = {
        "version": "v1",
        "policy": POLICY_OID,
        "message_imprint": imprint,
        # A UUIDv7 as an integer: unique across restarts and workers, as RFC 3161 §2.4.2 requires.
        "serial_number": new_id().int,
        "gen_time": gen_time,
        "accuracy": {"seconds": 1},
        "tsa": asn1_x509.GeneralName(name="directory_name", value=signer.cert.subject),
    }
    if req["nonce"].native is not None:
        info["nonce"] = req["nonce"]
    tst_info = tsp.TSTInfo(info).dump()
    token = _sign(signer, tst_info, gen_time, include_certs=bool(req["cert_req"].native))
    return tsp.TimeStampResp(
        {"status": tsp.PKIStatusInfo({"status": tsp.PKIStatus("granted")}), "time_stamp_token": token}
    )


def respond_der(signer: TsaSigner, body: bytes, now: datetime | None = None) -> bytes:
    try:
        req = tsp.TimeStampReq.load(body)
        req.native  # noqa: B018 - parse everything now, so malformed input fails here and not halfway
    except (ValueError, TypeError):
        return cast(bytes, _reject("bad_data_format", text="the body is not a DER TimeStampReq").dump())
    return cast(bytes, respond(signer, req, now).dump())


@lru_cache(maxsize=16)
def _static_parts(cert_der: bytes, chain_der: tuple[bytes, ...]) -> tuple[bytes, bytes, bytes]:
    """The DER of what every token from one TSA certificate repeats: the ESS signing-certificate-v2
    attribute, the signer identifier and the certificate set. Building them from asn1crypto objects
    each time re-encodes whole certificates (tens of milliseconds); these bytes are loaded instead."""
    cert = asn1_x509.Certificate.load(cert_der)
    ess = cms.CMSAttribute(
        {
            "type": "signing_certificate_v2",
            "values": [
                tsp.SigningCertificateV2(
                    {
                        # sha256 is the default hashAlgorithm, so it is left out (DER).
                        "certs": [
                            tsp.ESSCertIDv2(
                                {
                                    "cert_hash": hashlib.sha256(cert_der).digest(),
                                    "issuer_serial": {
                                        "issuer": [
                                            asn1_x509.GeneralName(name="directory_name", value=cert.issuer)
                                        ],
                                        "serial_number": cert.serial_number,
                                    },
                                }
                            )
                        ]
                    }
                )
            ],
        }
    )
    sid = cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number})
    certs = cms.CertificateSet(
        [
            cms.CertificateChoices(name="certificate", value=asn1_x509.Certificate.load(d))
            for d in (cert_der, *chain_der)
        ]
    )
    return ess.dump(), sid.dump(), certs.dump()


def _sign(signer: TsaSigner, tst_info: bytes, gen_time: datetime, *, include_certs: bool) -> cms.ContentInfo:
    ess_der, sid_der, certs_der = _static_parts(signer.cert.dump(), tuple(c.dump() for c in signer.chain))
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute(
                {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(gen_time)})]}
            ),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_info).digest()]}),
            cms.CMSAttribute.load(ess_der),
        ]
    )
    signature = signer.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number", value=cms.IssuerAndSerialNumber.load(sid_der)
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        }
    )
    signed_data: dict[str, object] = {
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": "tst_info", "content": cms.ParsableOctetString(tst_info)},
        "signer_infos": [signer_info],
    }
    if include_certs:
        signed_data["certificates"] = cms.CertificateSet.load(certs_der)
    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


class NodeTimeStamper(TimeStamper):
    """pyHanko's time stamper, answered in-process by the node's TSA: signing needs no HTTP round trip."""

    def __init__(self, signer: TsaSigner) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._signer = signer

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        # pyHanko reads only the status of a rejection, so the optional-token variant serves it too.
        return cast(tsp.TimeStampResp, respond(self._signer, req))
