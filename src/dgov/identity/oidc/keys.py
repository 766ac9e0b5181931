"""ID-token signing keys: generated on first use, sealed at rest, rotated by an operator.

A retired key stays in the JWKS until every ID token it signed has expired (`publish_until`), so a
relying party that fetched a token just before a rotation can still verify it. The key id is the key's
RFC 7638 thumbprint. These functions take a synchronous Session: they run inside Authlib's calls
(through `AsyncSession.run_sync`) as well as from the async helpers at the bottom.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey, import_key
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dgov.identity.authz import Principal, is_operator, register, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import SigningKey
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry

PURPOSE = "identity.signing-key"
ALGORITHMS = ("ES256", "RS256")
DEFAULT_ALG = "ES256"
ID_TOKEN_TTL = timedelta(minutes=10)
# Relying parties' clocks drift and they validate with some leeway: keep a retired key a little longer.
PUBLISH_GRACE = timedelta(minutes=5)

Key = ECKey | RSAKey
_opened: dict[str, Key] = {}  # kid → private key; a kid is a thumbprint, so it names one key only


@register("identity.signing_key.rotate")
def _rotate_rule(p: Principal, _resource: Any) -> bool:
    return is_operator(p) and p.level >= 2


def _generate(alg: str) -> Key:
    params: Any = {"alg": alg, "use": "sig"}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, auto_kid=True)
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=params, auto_kid=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def create_key(session: Session, ctx: IdentityContext, alg: str, now: datetime) -> tuple[SigningKey, Key]:
    key = _generate(alg)
    assert key.kid is not None
    row = SigningKey(
        kid=key.kid,
        alg=alg,
        private_jwk=ctx.box(PURPOSE).seal(json.dumps(key.as_dict(private=True))),
        public_jwk=key.as_dict(private=False),
        created_at=now,
    )
    session.add(row)
    session.flush()
    _opened[key.kid] = key
    return row, key


def _open(ctx: IdentityContext, row: SigningKey) -> Key:
    key = _opened.get(row.kid)
    if key is None:
        opened = import_key(json.loads(ctx.box(PURPOSE).open(row.private_jwk)))
        assert isinstance(opened, ECKey | RSAKey)
        if len(_opened) > 64:
            _opened.clear()
        key = _opened[row.kid] = opened
    return key


def _active(session: Session, alg: str) -> SigningKey | None:
    return session.scalar(
        select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc(), SigningKey.kid)
        .limit(1)
    )


def signing_key(session: Session, ctx: IdentityContext, alg: str, now: datetime) -> tuple[str, Key]:
    """The key that signs new tokens with `alg` (created on first use); returns (kid, private key)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    row = _active(session, alg)
    if row is None:
        row, key = create_key(session, ctx, alg, now)
        return row.kid, key
    return row.kid, _open(ctx, row)


def published(session: Session, now: datetime) -> list[SigningKey]:
    return list(
        session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid)
        )
    )


def jwks(session: Session, now: datetime) -> dict[str, Any]:
    return {"keys": [dict(row.public_jwk, kid=row.kid) for row in published(session, now)]}


def public_key_set(session: Session, now: datetime) -> KeySet:
    return KeySet.import_key_set(jwks(session, now))  # type: ignore[arg-type]


def rotate_in(session: Session, ctx: IdentityContext, alg: str, now: datetime) -> tuple[list[str], str]:
    """Retire every active key of `alg` and create its successor; returns (retired kids, new kid)."""
    retired = []
    active = select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
    for row in session.scalars(active):
        row.retired_at = now
        row.publish_until = now + ID_TOKEN_TTL + PUBLISH_GRACE
        retired.append(row.kid)
    new, _key = create_key(session, ctx, alg, now)
    return retired, new.kid


async def rotate_signing_key(ctx: IdentityContext, actor: Principal, alg: str = DEFAULT_ALG) -> str:
    """Start signing with a new key; the old one stays published until its tokens have expired."""
    require(actor, "identity.signing_key.rotate")
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    now = clock.now()
    async with ctx.db.uow() as uow:
        retired, kid = await uow.session.run_sync(lambda s: rotate_in(s, ctx, alg, now))
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.oidc.signing_key_rotated",
                object_type="signing_key",
                object_id=kid,
                details={"alg": alg, "retired": retired},
            )
        )
        await uow.commit()
    return kid


async def published_jwks(ctx: IdentityContext) -> dict[str, Any]:
    """The JWKS document. A key for every algorithm a client may choose is created here, before its
    first use: a relying party that fetched (and cached) the JWKS must find the key of its first token."""
    now = clock.now()
    async with ctx.db.uow(readonly=True) as uow:
        doc = await uow.session.run_sync(lambda s: jwks(s, now))
    if {k.get("alg") for k in doc["keys"]} >= set(ALGORITHMS):
        return doc

    def ensure_all(s: Session) -> dict[str, Any]:
        for alg in ALGORITHMS:
            signing_key(s, ctx, alg, now)
        return jwks(s, now)

    async with ctx.db.uow() as uow:
        doc = await uow.session.run_sync(ensure_all)
        await uow.commit()
    return doc
