"""The gateway pipeline: one function every caller goes through, over HTTP or in-process.

A request names its target as `/r1/{instance}/{class}/{member}/{subsystem}/{service}/{path…}` and its
caller in `Information-Mediator-Client` (or X-Road's `X-Road-Client`). Checks, in order, each ending
in an RFC 9457 problem and a message-log entry: unknown client or service (404), Content-Digest and
RFC 9421 signature (401: missing, malformed, wrong, stale or future `created`), revoked key or member
(401), replayed nonce (401), no access right (403). Then the service runs and the response is signed
with the node key. SQLAlchemy Core only on this path; the log and the nonces are group-committed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError

from dgov.exchange import directory, httpsig
from dgov.exchange.addresses import ServiceId, SubsystemId, service_id, subsystem_id
from dgov.exchange.messagelog import LogEntry, MessageLog
from dgov.exchange.models import keys_t, members_t, nonces_t, rights_t, services_t, subsystems_t
from dgov.identity import Principal
from dgov.kernel import clock
from dgov.kernel.errors import DomainError
from dgov.kernel.group_commit import GroupCommitWriter
from dgov.kernel.i18n import gettext as _
from dgov.kernel.ids import new_id
from dgov.kernel.keys import NodeKey
from dgov.kernel.logging import mask_ids
from dgov.kernel.uow import Database, UnitOfWork
from dgov.registries import RegistriesContext, read_record, record_exists

log = logging.getLogger("dgov.exchange")
CLIENT_HEADER = "information-mediator-client"
XROAD_CLIENT_HEADER = "x-road-client"
PURPOSE, SUBJECT, DOSSIER = "x-dgov-purpose", "x-dgov-subject", "x-dgov-dossier"
MESSAGE_ID = "x-dgov-message-id"
REQUEST_COMPONENTS = ("@method", "@target-uri", "content-digest")
RESPONSE_COMPONENTS = (
    "@status",
    "content-type",
    "content-digest",
    MESSAGE_ID,
    "@method;req",
    "@target-uri;req",
)
METASERVICES = ("listMethods", "allowedMethods", "getOpenAPI")
MAX_AGE_SECONDS = 300
NONCE_TTL = timedelta(seconds=MAX_AGE_SECONDS + 60)
CACHE_SECONDS = 2.0


@dataclass
class Incoming:
    method: str
    target_uri: str
    path: str  # the part after /r1/, percent-decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Outgoing:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Refused(DomainError):
    """A check failed: status, problem code, title and detail (msgids), and the log's outcome."""

    def __init__(self, detail: str, *, status: int, code: str, title: str, **params: Any) -> None:
        super().__init__(detail, params=params)
        # Each refusal carries its own status/code/title (DomainError declares them per class).
        self.http_status, self.problem_code, self.problem_title = status, code, title
        self.status = status  # type: ignore[misc]
        self.code = code  # type: ignore[misc]
        self.title = title  # type: ignore[misc]


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated when the response is made."""
    return message


_NOT_FOUND = N_("Not found")
_UNAUTH = N_("The request is not signed correctly")
_FORBIDDEN = N_("You are not allowed to do this")


@dataclass
class _Ctx:
    client: str = "-"
    service: str = "-"
    details: dict[str, Any] = field(default_factory=dict)


def _template_re(template: str) -> re.Pattern[str]:
    out, pos = "", 0
    for m in re.finditer(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}", template):
        out += re.escape(template[pos : m.start()]) + f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]))


def match_operation(
    operations: list[dict[str, Any]], method: str, path: str
) -> tuple[dict[str, Any], dict[str, str]]:
    for op in operations:
        if op["method"] != method:
            continue
        m = _template_re(op["path"]).fullmatch(path)
        if m:
            return op, m.groupdict()
    raise Refused(
        "The service has no operation {method} {path}",
        status=404,
        code="unknown-operation",
        title=_NOT_FOUND,
        method=method,
        path=path,
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
        self._nonces: GroupCommitWriter[dict[str, Any]] = GroupCommitWriter(db, self._insert_nonces)
        self._purge_at = 0.0
        # Directory lookups (client keys, service and rights) cached briefly: a change made in this
        # process clears them at once; one made by another process applies within CACHE_SECONDS.
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._cache_generation = directory.generation()

    # --- the pipeline ----------------------------------------------------------------------------

    async def handle(self, req: Incoming) -> Outgoing:
        started = time.perf_counter()
        message_id = str(new_id())
        ctx = _Ctx()
        for name in (PURPOSE, DOSSIER):
            if req.headers.get(name):
                ctx.details[name[7:]] = _header_text(req.headers[name])
        if req.headers.get(SUBJECT):
            ctx.details["subject"] = mask_ids(req.headers[SUBJECT])
        ctx.details["request_digest"] = req.headers.get("content-digest")
        try:
            payload = await self._process(req, ctx)
            status, outcome, body = 200, "ok", payload
        except Refused as r:
            status, outcome = r.http_status, r.problem_code
            body = self._problem(req, status, outcome, _(r.problem_title), _(r.detail or "", **r.params))
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

    async def _process(self, req: Incoming, ctx: _Ctx) -> Any:
        seg = [s for s in req.path.split("/")]
        if len(seg) == 2 and seg[1] == "listClients":
            if seg[0] != self.instance:
                raise Refused(
                    "Unknown instance {instance}",
                    status=404,
                    code="unknown-service",
                    title=_NOT_FOUND,
                    instance=seg[0],
                )
            ctx.service = f"{seg[0]}/listClients"
            await self._authenticate(req, ctx)
            return {"member": await _list_clients(self.db)}
        if len(seg) < 5 or not all(seg[:5]):
            raise Refused(
                "Address a service as /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE/…",
                status=404,
                code="unknown-service",
                title=_NOT_FOUND,
            )
        target = "/".join(seg[:4])
        if len(seg) == 5 and seg[4] in METASERVICES:
            ctx.service = f"{target}/{seg[4]}"
            return await self._metaservice(req, ctx, seg[4], target)
        try:
            sv = service_id("/".join(seg[:5]))
        except DomainError:
            raise Refused(
                "No service at this address", status=404, code="unknown-service", title=_NOT_FOUND
            ) from None
        ctx.service = str(sv)
        client = await self._authenticate(req, ctx, service=sv)
        svc = await self._service(sv, client)
        rest = "/" + "/".join(seg[5:]) if len(seg) > 5 else "/"
        op, params = match_operation(svc["operations"], req.method, rest)
        ctx.details["operation"] = op["id"]
        if not (svc["all_ops"] or op["id"] in svc["ops"]):
            raise Refused(
                "{client} has no access right to {service}",
                status=403,
                code="no-access-right",
                title=_FORBIDDEN,
                client=str(client.address),
                service=str(sv),
            )
        return await self._execute(req, client, svc, op, params)

    async def _metaservice(self, req: Incoming, ctx: _Ctx, name: str, target: str) -> Any:
        try:
            provider = subsystem_id(target)
        except DomainError:
            raise Refused(
                "No service at this address", status=404, code="unknown-service", title=_NOT_FOUND
            ) from None
        client = await self._authenticate(req, ctx)
        if name == "listMethods":
            return {
                "service": [_rest_service(s) for s in await directory.services(self.db, subsystem=provider)]
            }
        if name == "allowedMethods":
            allowed = await directory.allowed_services(self.db, client.address)
            return {"service": [_rest_service(s) for s in allowed if s["subsystem"] == str(provider)]}
        code = req.query.get("serviceCode", "")
        doc = None
        if code:
            try:
                doc = await directory.openapi_of(self.db, service_id(f"{provider}/{code}"))
            except DomainError:
                doc = None
        if doc is None:
            raise Refused(
                "No service {service}",
                status=404,
                code="unknown-service",
                title=_NOT_FOUND,
                service=f"{provider}/{code}",
            )
        return doc

    # --- checks ----------------------------------------------------------------------------------

    async def _authenticate(self, req: Incoming, ctx: _Ctx, *, service: ServiceId | None = None) -> _Client:
        header = CLIENT_HEADER if CLIENT_HEADER in req.headers else XROAD_CLIENT_HEADER
        raw = req.headers.get(header, "")
        if not raw:
            raise Refused(
                "Name the caller in the Information-Mediator-Client header",
                status=404,
                code="unknown-client",
                title=_NOT_FOUND,
            )
        ctx.client = mask_ids(raw)[:300]
        try:
            address = subsystem_id(raw)
        except DomainError:
            raise Refused(
                "Unknown client {client}",
                status=404,
                code="unknown-client",
                title=_NOT_FOUND,
                client=ctx.client,
            ) from None
        client = await self._client(address)
        if client is None or client.status == "pending" or client.member_status == "pending":
            raise Refused(
                "Unknown client {client}",
                status=404,
                code="unknown-client",
                title=_NOT_FOUND,
                client=ctx.client,
            )
        if service is not None and not await self._service_exists(service):
            raise Refused(
                "No service {service}",
                status=404,
                code="unknown-service",
                title=_NOT_FOUND,
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
                required=(*REQUEST_COMPONENTS, header),
                now=int(clock.now().timestamp()),
                max_age=MAX_AGE_SECONDS,
            )
        except httpsig.SignatureError as e:
            ctx.details["signature_error"] = e.reason
            raise Refused(
                str(e).replace("{", "{{").replace("}", "}}"), status=401, code=e.reason, title=_UNAUTH
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
                title=_UNAUTH,
                client=ctx.client,
            )
        assert verified.nonce is not None
        if not await self._fresh_nonce(verified.keyid, verified.nonce):
            raise Refused(
                "This nonce was already used: the request is a replay",
                status=401,
                code="signature-replay",
                title=_UNAUTH,
            )
        return client

    def _resolve_key(self, client: _Client, keyid: str) -> tuple[httpsig.PublicKey, str]:
        row = client.keys.get(keyid)
        if row is None:
            raise httpsig.SignatureError("unknown-key", "the keyid is not a key of this client")
        if row[2] != "active":
            raise httpsig.SignatureError("key-revoked", "the key was revoked")
        return httpsig.load_public_pem(row[0]), row[1]

    async def _cached(self, key: tuple[str, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        now = time.monotonic()
        if self._cache_generation != directory.generation():
            self._cache.clear()
            self._cache_generation = directory.generation()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + CACHE_SECONDS, value)
        return value

    async def _client(self, address: SubsystemId) -> _Client | None:
        found: _Client | None = await self._cached(
            ("client", str(address)), lambda: self._load_client(address)
        )
        return found

    async def _load_client(self, address: SubsystemId) -> _Client | None:
        m, s = members_t, subsystems_t
        q = (
            select(
                s.c.id,
                s.c.status,
                m.c.status.label("mstatus"),
                m.c.name,
                keys_t.c.key_id,
                keys_t.c.public_pem,
                keys_t.c.alg,
                keys_t.c.status.label("kstatus"),
            )
            .join(m, m.c.id == s.c.member_id)
            .outerjoin(keys_t, keys_t.c.subsystem_id == s.c.id)
            .where(
                m.c.instance == address.member.instance,
                m.c.member_class == address.member.member_class,
                m.c.code == address.member.code,
                s.c.code == address.code,
            )
        )
        async with self.db.uow(readonly=True) as uow:
            rows = (await uow.session.execute(q)).all()
        if not rows:
            return None
        r0 = rows[0]
        keys = {r.key_id: (r.public_pem, r.alg, r.kstatus) for r in rows if r.key_id is not None}
        return _Client(address, r0.id, r0.status, r0.mstatus, r0.name, keys)

    async def _service_exists(self, sv: ServiceId) -> bool:
        return (await self._service_row(sv, None)) is not None

    async def _service_row(self, sv: ServiceId, client_id: Any) -> Any:
        return await self._cached(
            ("service", str(sv), str(client_id)), lambda: self._load_service_row(sv, client_id)
        )

    async def _load_service_row(self, sv: ServiceId, client_id: Any) -> Any:
        m, s = members_t, subsystems_t
        q = (
            select(
                services_t.c.id,
                services_t.c.kind,
                services_t.c.target,
                services_t.c.operations,
                s.c.status,
                m.c.status.label("mstatus"),
            )
            .join(s, s.c.id == services_t.c.subsystem_id)
            .join(m, m.c.id == s.c.member_id)
            .where(
                m.c.instance == sv.subsystem.member.instance,
                m.c.member_class == sv.subsystem.member.member_class,
                m.c.code == sv.subsystem.member.code,
                s.c.code == sv.subsystem.code,
                services_t.c.code == sv.code,
            )
        )
        async with self.db.uow(readonly=True) as uow:
            row = (await uow.session.execute(q)).one_or_none()
            if row is None or client_id is None:
                return row
            ops = (
                (
                    await uow.session.execute(
                        select(rights_t.c.operation).where(
                            and_(rights_t.c.client_id == client_id, rights_t.c.service_id == row.id)
                        )
                    )
                )
                .scalars()
                .all()
            )
        return row, list(ops)

    async def _service(self, sv: ServiceId, client: _Client) -> dict[str, Any]:
        found = await self._service_row(sv, client.id)
        if found is None:
            raise Refused(
                "No service {service}", status=404, code="unknown-service", title=_NOT_FOUND, service=str(sv)
            )
        row, ops = found
        if row.status != "active" or row.mstatus != "active":
            raise Refused(
                "No service {service}", status=404, code="unknown-service", title=_NOT_FOUND, service=str(sv)
            )
        return {
            "kind": row.kind,
            "target": row.target,
            "operations": row.operations,
            "all_ops": "" in ops,
            "ops": set(ops),
        }

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

    # --- services --------------------------------------------------------------------------------

    async def _execute(
        self, req: Incoming, client: _Client, svc: dict[str, Any], op: dict[str, Any], params: dict[str, str]
    ) -> Any:
        if svc["kind"] != "registry":
            raise Refused(
                "This node does not serve {service}",
                status=404,
                code="unknown-service",
                title=_NOT_FOUND,
                service=svc["target"],
            )
        registry = svc["target"]
        actor = Principal(
            kind="client", client_id=str(client.address), scopes=frozenset({f"registry.{registry}.read"})
        )
        ctx = RegistriesContext(db=self.db)
        if op["id"] == "recordExists":
            return {
                "registry": registry,
                "key": params["key"],
                "exists": await record_exists(ctx, actor, registry, params["key"]),
            }
        purpose = _header_text(req.headers.get(PURPOSE, ""))
        if not purpose:
            raise Refused(
                "State the purpose of this read in the X-Dgov-Purpose header",
                status=400,
                code="purpose-required",
                title="The request cannot be processed",
            )
        fields = [f for f in req.query.get("fields", "").split(",") if f] or None
        view = await read_record(
            ctx,
            actor,
            registry,
            params["key"],
            purpose=purpose,
            fields=fields,
            channel="exchange",
            dossier_code=_header_text(req.headers.get(DOSSIER, "")) or None,
            accessor_name=client.name,
        )
        return {
            "registry": view.registry,
            "key": view.key,
            "version": view.version,
            "data": view.data,
            "valid_from": view.valid_from.isoformat(),
        }


def _header_text(value: str) -> str:
    """Header values are Latin-1 on the wire: Vietnamese text travels percent-encoded UTF-8."""
    return unquote(value).strip()


@dataclass(frozen=True)
class _Client:
    address: SubsystemId
    id: Any
    status: str
    member_status: str
    name: str
    keys: dict[str, tuple[str, str, str]]  # key id → (public PEM, alg, status)


def _rest_service(s: dict[str, Any]) -> dict[str, Any]:
    """X-Road REST's listMethods shape: service ids with their endpoints."""
    return {
        "service_code": s["code"],
        "title": s["title"],
        "address": s["address"],
        "service_type": "REST",
        "endpoints": [{"method": o["method"], "path": o["path"]} for o in s["operations"]],
    }


async def _list_clients(db: Database) -> list[dict[str, Any]]:
    out = []
    for m in await directory.members(db):
        if m["status"] != "active":
            continue
        out.append({"id": {"object_type": "MEMBER", "address": m["address"]}, "name": m["name"]})
        for s in m["subsystems"]:
            if s["status"] == "active":
                out.append({"id": {"object_type": "SUBSYSTEM", "address": s["address"]}, "name": m["name"]})
    return out


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
