"""Public key infrastructure: CAs, agency signing certificates, CRL, OCSP and a time-stamping authority.

Other domains import only from here.
"""

from dgov.pki.agencies import Agency, agencies, agency
from dgov.pki.material import (
    SigningMaterial,
    TrustMaterial,
    ca_certificate,
    certificate_status,
    root_certificate_pem,
    signing_material,
    trust_material,
    validation_context,
)
from dgov.pki.service import (
    CertInfo,
    init_pki,
    issue_agency_certificate,
    list_certificates,
    revoke_agency_certificate,
    rotate_agency_certificate,
)
from dgov.pki.tsa import NodeTimeStamper

__all__ = [
    "Agency",
    "CertInfo",
    "NodeTimeStamper",
    "SigningMaterial",
    "TrustMaterial",
    "agencies",
    "agency",
    "ca_certificate",
    "certificate_status",
    "init_pki",
    "issue_agency_certificate",
    "list_certificates",
    "revoke_agency_certificate",
    "root_certificate_pem",
    "rotate_agency_certificate",
    "signing_material",
    "trust_material",
    "validation_context",
]
