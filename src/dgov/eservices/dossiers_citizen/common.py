"""What the citizen's use cases share: the applicant, idempotency keys, the stored prefill and the
applicant's own dossier."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from dgov.eservices import dossiers
from dgov.eservices.dossiers import Dossier
from dgov.identity import Principal, require
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.kernel.uow import UnitOfWork

MAX_MESSAGE = 4000
KEY_CHARS = 64


@dataclass(frozen=True)
class Applicant:
    """The logged-in citizen filing (for themself, or for a child in their care: principal.acting_for)."""

    principal: Principal
    id_number: str
    full_name: str


def new_key() -> str:
    return secrets.token_urlsafe(24)


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > KEY_CHARS:
        raise ValidationFailed(
            errors=[FieldError(("idempotency_key",), "This is not in the expected format")]
        )
    return key


def _stored_prefill(d: Dossier) -> tuple[dict[str, Any], set[str]]:
    values = {p: s.get("value") for p, s in d.sources.items()}
    readonly = {p for p, s in d.sources.items() if s.get("mode") == "readonly"}
    return values, readonly


async def load_own(uow: UnitOfWork, p: Principal, dossier_id: uuid.UUID) -> Dossier:
    d = await dossiers.get(uow, dossier_id)
    require(p, "eservices.dossier.applicant", d)
    return d
