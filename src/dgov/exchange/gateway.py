"""The gateway pipeline: one function every caller goes through, over HTTP or in-process.

Each step refuses with an RFC 9457 problem and a message-log entry: addressing (`gateway_wire`), the
caller's checks (`gateway_checks`), then the service runs (`gateway_providers`, or a metaservice in
`gateway_meta`) and the response is signed with the node key. SQLAlchemy Core only on this path; the
log and the nonces are group-committed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from dgov.exchange import httpsig
from dgov.exchange.addresses import service_id
from dgov.exchange.gateway_checks import RequestChecks, require_right
from dgov.exchange.gateway_lookup import Client, DirectoryLookups
from dgov.exchange.gateway_meta import METASERVICES, list_clients, metaservice
from dgov.exchange.gateway_providers import execute
from dgov.exchange.gateway_wire import (
    DOSSIER,
    MESSAGE_ID,
    NOT_FOUND,
    PURPOSE,
    SUBJECT,
    CallContext,
    Incoming,
    Outgoing,
    Refused,
    header_text,
    match_operation,
)
from dgov.exchange.messagelog import LogEntry, MessageLog
from dgov.kernel import clock
from dgov.kernel.errors import DomainError
from dgov.kernel.i18n import gettext as _
from dgov.kernel.ids import new_id
from dgov.kernel.keys import NodeKey
from dgov.kernel.logging import mask_ids
from dgov.kernel.uow import Database

log = logging.getLogger("dgov.exchange")
RESPONSE_COMPONENTS = (
    "@status",
    "content-type",
    "content-digest",
    MESSAGE_ID,
    "@method;req",
    "@target-uri;req",
)


class Gateway:
    """Per-process gateway state: the directory's database, the node key, the group-committed log and
    nonce store."""

    def __init__(
        self, db: Database, node_key: NodeKey, *, instance: str, node: str, checkpoint_every: int
    ) -> None:
        self.db = db
        self.node_key = node_key
        self.instance = instance
        self.log = MessageLog(db, key=node_key, node=node, every=checkpoint_every)
        self.lookups = DirectoryLookups(db)
        self.checks = RequestChecks(db, self.lookups)

    async def authenticate(self, req: Incoming) -> Client:
        """A signed member request checked as at the gateway (signature, digest, `created`, nonce,
        revocation), for member-facing APIs outside /r1/; raises Refused."""
        return await self.checks.authenticate(req, CallContext())

    # --- the pipeline ----------------------------------------------------------------------------

    async def handle(self, req: Incoming) -> Outgoing:
        started = time.perf_counter()
        message_id = str(new_id())
        ctx = CallContext()
        for name in (PURPOSE, DOSSIER):
            if req.headers.get(name):
                ctx.details[name[7:]] = header_text(req.headers[name])
        if req.headers.get(SUBJECT):
            ctx.details["subject"] = mask_ids(req.headers[SUBJECT])
        ctx.details["request_digest"] = req.headers.get("content-digest")
        try:
            payload = await self._process(req, ctx)
            status, outcome, body = 200, "ok", payload
        except Refused as r:
            status, outcome = r.http_status, r.problem_code
            # gettext("") would return the catalogue's header, not an empty detail
            refusal = _(r.detail, **r.params) if r.detail else ""
            body = self._problem(req, status, outcome, _(r.problem_title), refusal)
        except DomainError as e:
            status, outcome = e.status, f"provider-{e.code}"
            detail = _(e.detail, **e.params) if e.detail else None
            body = self._problem(req, e.status, e.code, _(e.title), detail)
            if e.errors:
                body["errors"] = [{"loc": list(x.loc), "message": _(x.message, **x.params)} for x in e.errors]
        except Exception:  # still a signed answer and a log entry: the caller and the auditor both see it
            log.exception("exchange call failed", extra={"service": ctx.service, "client": ctx.client})
            status, outcome = 500, "internal-error"
            body = self._problem(req, 500, "internal-error", _("Something went wrong on our side"), None)
        ctype = "application/json" if status < 400 else "application/problem+json"
        resp = self._signed_response(req, status, ctype, body, message_id)
        ctx.details["response_signature"] = resp.headers["signature"]
        ctx.details["response_signature_input"] = resp.headers["signature-input"]
        ctx.details["response_digest"] = resp.headers["content-digest"]
        await self.log.write(
            LogEntry(
                ts=clock.now(),
                message_id=message_id,
                client=ctx.client,
                service=ctx.service,
                method=req.method,
                path=mask_ids(req.path)[:1000],
                status=status,
                outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1000),
                details=ctx.details,
            )
        )
        return resp

    def _problem(
        self, req: Incoming, status: int, code: str, title: str, detail: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"/problems/{code}",
            "title": title,
            "status": status,
            "code": code,
            "instance": "/r1/" + mask_ids(req.path),
        }
        if detail:
            body["detail"] = detail
        return body

    def _signed_response(
        self, req: Incoming, status: int, ctype: str, body: Any, message_id: str
    ) -> Outgoing:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        headers = {
            "content-type": ctype,
            "content-digest": httpsig.content_digest(raw),
            MESSAGE_ID: message_id,
        }
        request = httpsig.Message(method=req.method, target_uri=req.target_uri, headers=req.headers)
        msg = httpsig.Message(status=status, headers=headers, request=request)
        headers.update(
            httpsig.sign(
                msg,
                key=self.node_key.private_key,
                keyid=self.node_key.key_id,
                components=RESPONSE_COMPONENTS,
                created=int(clock.now().timestamp()),
                nonce=message_id,
                label="sig1",
            )
        )
        return Outgoing(status, headers, raw)

    async def _process(self, req: Incoming, ctx: CallContext) -> Any:
        seg = [s for s in req.path.split("/")]
        if len(seg) == 2 and seg[1] == "listClients":
            if seg[0] != self.instance:
                raise Refused(
                    "Unknown instance {instance}",
                    status=404,
                    code="unknown-service",
                    title=NOT_FOUND,
                    instance=seg[0],
                )
            ctx.service = f"{seg[0]}/listClients"
            await self.checks.authenticate(req, ctx)
            return {"member": await list_clients(self.db)}
        if len(seg) < 5 or not all(seg[:5]):
            raise Refused(
                "Address a service as /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE/…",
                status=404,
                code="unknown-service",
                title=NOT_FOUND,
            )
        target = "/".join(seg[:4])
        if len(seg) == 5 and seg[4] in METASERVICES:
            ctx.service = f"{target}/{seg[4]}"
            return await metaservice(self.db, self.checks, req, ctx, seg[4], target)
        try:
            sv = service_id("/".join(seg[:5]))
        except DomainError:
            raise Refused(
                "No service at this address", status=404, code="unknown-service", title=NOT_FOUND
            ) from None
        ctx.service = str(sv)
        client = await self.checks.authenticate(req, ctx, service=sv)
        svc = await self.lookups.service(sv, client)
        rest = "/" + "/".join(seg[5:]) if len(seg) > 5 else "/"
        op, params = match_operation(svc["operations"], req.method, rest)
        ctx.details["operation"] = op["id"]
        require_right(client, sv, svc, op)
        return await execute(self.db, req, client, svc, op, params)


def gateway_for(runtime: Any) -> Gateway:
    """The runtime's gateway, built on first use (one per process)."""
    gw = runtime.extras.get("exchange.gateway")
    if gw is None:
        s = runtime.settings
        gw = Gateway(
            runtime.db,
            runtime.node_key,
            instance=s.exchange_instance,
            node=s.node_name,
            checkpoint_every=s.audit_checkpoint_every,
        )
        runtime.extras["exchange.gateway"] = gw
    assert isinstance(gw, Gateway)
    return gw
