"""The gateway's checks on a caller, in order, each refusing with its own problem: unknown client or
service (404), Content-Digest and RFC 9421 signature (401: missing, malformed, wrong, stale or future
`created`), revoked key or member (401), replayed nonce (401), no access right (403).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from dgov.exchange import httpsig
from dgov.exchange.addresses import ServiceId, subsystem_id
from dgov.exchange.gateway_lookup import Client, DirectoryLookups
from dgov.exchange.gateway_wire import (
    CLIENT_HEADER,
    DECLARED,
    FORBIDDEN,
    NOT_FOUND,
    UNAUTHENTICATED,
    XROAD_CLIENT_HEADER,
    CallContext,
    Incoming,
    Refused,
)
from dgov.exchange.models import nonces_t
from dgov.kernel import clock
from dgov.kernel.errors import DomainError
from dgov.kernel.group_commit import GroupCommitWriter
from dgov.kernel.logging import mask_ids
from dgov.kernel.uow import Database, UnitOfWork

REQUEST_COMPONENTS = ("@method", "@target-uri", "content-digest")
MAX_AGE_SECONDS = 300
NONCE_TTL = timedelta(seconds=MAX_AGE_SECONDS + 60)


class RequestChecks:
    """Per-process: the nonce store is group-committed, the directory lookups are cached."""

    def __init__(self, db: Database, lookups: DirectoryLookups) -> None:
        self.lookups = lookups
        self._nonces: GroupCommitWriter[dict[str, Any]] = GroupCommitWriter(db, self._insert_nonces)
        self._purge_at = 0.0

    async def authenticate(
        self, req: Incoming, ctx: CallContext, *, service: ServiceId | None = None
    ) -> Client:
        header = CLIENT_HEADER if CLIENT_HEADER in req.headers else XROAD_CLIENT_HEADER
        raw = req.headers.get(header, "")
        if not raw:
            raise Refused(
                "Name the caller in the Information-Mediator-Client header",
                status=404,
                code="unknown-client",
                title=NOT_FOUND,
            )
        ctx.client = mask_ids(raw)[:300]
        try:
            address = subsystem_id(raw)
        except DomainError:
            raise Refused(
                "Unknown client {client}",
                status=404,
                code="unknown-client",
                title=NOT_FOUND,
                client=ctx.client,
            ) from None
        client = await self.lookups.client(address)
        if client is None or client.status == "pending" or client.member_status == "pending":
            raise Refused(
                "Unknown client {client}",
                status=404,
                code="unknown-client",
                title=NOT_FOUND,
                client=ctx.client,
            )
        if service is not None and not await self.lookups.service_exists(service):
            raise Refused(
                "No service {service}",
                status=404,
                code="unknown-service",
                title=NOT_FOUND,
                service=str(service),
            )
        msg = httpsig.Message(method=req.method, target_uri=req.target_uri, headers=req.headers)
        try:
            ctx.details["digest_alg"] = httpsig.check_content_digest(
                req.headers.get("content-digest"), req.body
            )
            verified = httpsig.verify(
                msg,
                resolve=lambda kid: self._resolve_key(client, kid),
                # A declared purpose, subject or dossier that is sent but not signed is refused.
                required=(*REQUEST_COMPONENTS, header, *(h for h in DECLARED if h in req.headers)),
                now=int(clock.now().timestamp()),
                max_age=MAX_AGE_SECONDS,
            )
        except httpsig.SignatureError as e:
            ctx.details["signature_error"] = e.reason
            raise Refused(
                str(e).replace("{", "{{").replace("}", "}}"), status=401, code=e.reason, title=UNAUTHENTICATED
            ) from None
        ctx.details.update(
            keyid=verified.keyid,
            alg=verified.alg,
            request_signature=verified.signature,
            request_signature_input=verified.signature_input,
        )
        if client.status == "revoked" or client.member_status == "revoked":
            raise Refused(
                "The client {client} is revoked",
                status=401,
                code="client-revoked",
                title=UNAUTHENTICATED,
                client=ctx.client,
            )
        assert verified.nonce is not None
        if not await self._fresh_nonce(verified.keyid, verified.nonce):
            raise Refused(
                "This nonce was already used: the request is a replay",
                status=401,
                code="signature-replay",
                title=UNAUTHENTICATED,
            )
        return client

    def _resolve_key(self, client: Client, keyid: str) -> tuple[httpsig.PublicKey, str]:
        row = client.keys.get(keyid)
        if row is None:
            raise httpsig.SignatureError("unknown-key", "the keyid is not a key of this client")
        if row[2] != "active":
            raise httpsig.SignatureError("key-revoked", "the key was revoked")
        return httpsig.load_public_pem(row[0]), row[1]

    async def _fresh_nonce(self, keyid: str, nonce: str) -> bool:
        """Record the nonce (group-committed); False if it was seen before, here or in another worker:
        the primary key refuses the second insert, and the writer retries a failed batch row by row so
        only the replay fails."""
        now = clock.now()
        try:
            await self._nonces.submit(
                [{"key_id": keyid, "nonce": nonce[:200], "expires_at": now + NONCE_TTL}]
            )
        except IntegrityError:
            return False
        return True

    async def _insert_nonces(self, uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
        await uow.session.execute(nonces_t.insert(), rows)
        if time.monotonic() > self._purge_at:  # expired nonces cannot be replayed: `created` is too old
            self._purge_at = time.monotonic() + 60
            await uow.session.execute(nonces_t.delete().where(nonces_t.c.expires_at < clock.now()))


def require_right(client: Client, sv: ServiceId, svc: dict[str, Any], op: dict[str, Any]) -> None:
    if not (svc["all_ops"] or op["id"] in svc["ops"]):
        raise Refused(
            "{client} has no access right to {service}",
            status=403,
            code="no-access-right",
            title=FORBIDDEN,
            client=str(client.address),
            service=str(sv),
        )
