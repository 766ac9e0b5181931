"""What a relying party learns about a person: pairwise subject identifiers, scopes → claims, and the
plain-language lines of the consent screen.

The subject identifier differs per sector (RFC: OIDC Core §8.1), so two organisations cannot join their
records on it; the personal identification number is released only under its own scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dgov.identity.models import Account

LEVEL1 = "urn:dgov:acr:level1"
LEVEL2 = "urn:dgov:acr:level2"
ACR_VALUES = (LEVEL1, LEVEL2)

# Scopes about a person; a client without a person (client_credentials) may ask for none of them.
USER_SCOPES = frozenset({"openid", "profile", "email", "phone", "vn_id_number", "offline_access"})

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "birthdate", "gender"),
    "email": ("email",),
    "phone": ("phone_number",),
    "vn_id_number": ("vn_id_number",),
    "offline_access": (),
}
CLAIMS_SUPPORTED = ("sub", "name", "birthdate", "gender", "email", "phone_number", "vn_id_number")


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


# The consent screen names each claim in plain words (msgids; the template translates them).
CLAIM_LABELS: dict[str, str] = {
    "sub": N_("An identifier for you that is different for every organisation"),
    "name": N_("Full name"),
    "birthdate": N_("Date of birth"),
    "gender": N_("Sex"),
    "email": N_("Email address"),
    "phone_number": N_("Phone number"),
    "vn_id_number": N_("Personal identification number"),
}
OFFLINE_LABEL = N_("Access while you are not using the service, until you withdraw your consent")
API_SCOPE_LABEL = N_("Access to the agency service “{scope}”")
SEX_LABELS = {"M": N_("Male"), "F": N_("Female")}


def acr_for(level: int) -> str:
    return LEVEL2 if level >= 2 else LEVEL1


@lru_cache(maxsize=8)
def _pairwise_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"identity.oidc.pairwise").derive(
        secret.encode()
    )


def pairwise_sub(secret: str, sector: str, account_id: uuid.UUID) -> str:
    mac = hmac.new(_pairwise_key(secret), f"{sector}:{account_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def claim_values(account: Account) -> dict[str, str]:
    values: dict[str, str] = {}
    if account.full_name:
        values["name"] = account.full_name
    if account.birth_date:
        values["birthdate"] = account.birth_date.isoformat()
    if account.sex in ("M", "F"):
        values["gender"] = "male" if account.sex == "M" else "female"
    if account.email:
        values["email"] = account.email
    if account.phone:
        values["phone_number"] = account.phone
    if account.id_number:
        values["vn_id_number"] = account.id_number
    return values


def user_claims(account: Account, sub: str, scopes: list[str]) -> dict[str, str]:
    """The claims a token with these scopes may read (only those the account has)."""
    values = claim_values(account)
    out = {"sub": sub}
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            if claim in values:
                out[claim] = values[claim]
    return out


@dataclass(frozen=True)
class ConsentLine:
    label: str  # msgid
    value: str | None  # what exactly is shared (None when the line is not a value)
    value_msgid: bool = False  # the value is itself a msgid (e.g. the sex)
    params: tuple[tuple[str, str], ...] = ()


def _claim_line(claim: str, account: Account, values: dict[str, str]) -> ConsentLine | None:
    """The consent screen's line for one claim (None: nothing to show for this account)."""
    if claim == "sub":
        return ConsentLine(CLAIM_LABELS[claim], None)
    if claim == "gender" and account.sex in SEX_LABELS:
        return ConsentLine(CLAIM_LABELS[claim], SEX_LABELS[account.sex], value_msgid=True)
    if claim == "birthdate" and account.birth_date:
        return ConsentLine(CLAIM_LABELS[claim], account.birth_date.strftime("%d/%m/%Y"))
    if claim in values:
        return ConsentLine(CLAIM_LABELS[claim], values[claim])
    return None


def consent_lines(account: Account, scopes: list[str]) -> list[ConsentLine]:
    """One line per claim (with the value that would be shared), then what else the scopes allow."""
    values = claim_values(account)
    claims = dict.fromkeys(claim for scope in scopes for claim in SCOPE_CLAIMS.get(scope, ()))
    lines = [line for claim in claims if (line := _claim_line(claim, account, values)) is not None]
    if "offline_access" in scopes:
        lines.append(ConsentLine(OFFLINE_LABEL, None))
    for scope in scopes:
        if scope not in SCOPE_CLAIMS:
            lines.append(ConsentLine(API_SCOPE_LABEL, None, params=(("scope", scope),)))
    return lines
