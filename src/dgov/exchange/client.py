"""Python client SDK for the gateway, for agency applications and for other domains of this node.

`ExchangeClient` speaks HTTP: it signs each request (RFC 9421 over @method, @target-uri,
Content-Digest and the client header, with created/nonce/keyid) and checks the signed response against
the node's public key. `call_service` is the in-process variant: the node holds the private keys of
its own subsystems (sealed in the database) and the call goes through the very same gateway pipeline,
checks and message log, without a socket.
"""

from __future__ import annotations

import json as jsonlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from dgov.exchange import directory, httpsig
from dgov.exchange.addresses import subsystem_id
from dgov.exchange.gateway import gateway_for
from dgov.exchange.gateway_wire import CLIENT_HEADER, DOSSIER, MESSAGE_ID, PURPOSE, SUBJECT, Incoming
from dgov.exchange.models import keys_t, members_t, subsystems_t
from dgov.kernel import clock
from dgov.kernel.crypto import SecretBox
from dgov.kernel.errors import NotFound

KEY_PURPOSE = "exchange.subsystem-key"
REQUEST_COVERS = ("@method", "@target-uri", "content-digest", CLIENT_HEADER)


class ResponseNotTrusted(Exception):
    """The gateway's response is not signed by the expected node key (or its digest is wrong)."""


@dataclass
class ExchangeResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    message_id: str = ""
    verified: bool = False
    keyid: str = ""

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class SignedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Signer:
    """Signs requests as one client subsystem."""

    client: str
    private_key: httpsig.PrivateKey
    keyid: str = ""

    def __post_init__(self) -> None:
        subsystem_id(self.client)
        if not self.keyid:
            self.keyid = httpsig.jwk_thumbprint(self.private_key.public_key())

    def sign(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        purpose: str | None = None,
        subject: str | None = None,
        dossier: str | None = None,
        content_type: str | None = None,
    ) -> SignedRequest:
        headers = {CLIENT_HEADER: self.client, "content-digest": httpsig.content_digest(body)}
        if content_type:
            headers["content-type"] = content_type
        covers = list(REQUEST_COVERS)
        for name, value in ((PURPOSE, purpose), (SUBJECT, subject), (DOSSIER, dossier)):
            if value:
                headers[name] = quote(value, safe=" /:,.-_()")
                covers.append(name)  # what the caller declares is signed with the rest
        msg = httpsig.Message(method=method.upper(), target_uri=url, headers=headers)
        headers.update(
            httpsig.sign(
                msg,
                key=self.private_key,
                keyid=self.keyid,
                components=covers,
                created=int(clock.now().timestamp()),
                nonce=secrets.token_urlsafe(16),
            )
        )
        return SignedRequest(method.upper(), url, headers, body)

    def countersign(self, request: SignedRequest, *, label: str = "member") -> SignedRequest:
        """Add this signer's signature to an already signed request, under another label: a
        registration under an existing member is signed by the new key and by one of the member's."""
        headers = {k: v for k, v in request.headers.items() if k not in ("signature-input", "signature")}
        msg = httpsig.Message(method=request.method, target_uri=request.url, headers=headers)
        extra = httpsig.sign(
            msg,
            key=self.private_key,
            keyid=self.keyid,
            components=("@method", "@target-uri", "content-digest"),
            created=int(clock.now().timestamp()),
            nonce=secrets.token_urlsafe(16),
            label=label,
        )
        out = dict(request.headers)
        for field in ("signature-input", "signature"):
            out[field] = f"{out[field]}, {extra[field]}"
        return SignedRequest(request.method, request.url, out, request.body)


def verify_response(
    node_key: httpsig.PublicKey, request: SignedRequest, status: int, headers: dict[str, str], body: bytes
) -> str:
    """Raise ResponseNotTrusted unless the node signed this response to this request; returns its keyid."""
    h = httpsig.headers_of(headers)
    msg = httpsig.Message(
        status=status,
        headers=h,
        request=httpsig.Message(method=request.method, target_uri=request.url, headers=request.headers),
    )
    try:
        httpsig.check_content_digest(h.get("content-digest"), body)
        v = httpsig.verify(
            msg,
            resolve=lambda _kid: (node_key, httpsig.algorithm_of(node_key)),
            required=("@status", "content-digest", "@method;req", "@target-uri;req"),
            now=int(clock.now().timestamp()),
            require_nonce=False,
        )
    except httpsig.SignatureError as exc:
        raise ResponseNotTrusted(f"{exc.reason}: {exc}") from exc
    return v.keyid


def _url(base: str, service: str, path: str, params: dict[str, str] | None) -> str:
    path = path if path.startswith("/") else "/" + path
    url = f"{base.rstrip('/')}/r1/{service}{quote(path, safe='/%{}')}"
    return url + ("?" + urlencode(params) if params else "")


class ExchangeClient:
    """An agency application's client: `await ExchangeClient(...).get(service, "/records/…", purpose=…)`.

    `node_public_key` (PEM) pins the key the gateway signs responses with; without it the key is fetched
    once from the node (trust on first use) — pin it in production.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client: str,
        private_key: httpsig.PrivateKey | str | bytes,
        keyid: str = "",
        node_public_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        key = (
            private_key if not isinstance(private_key, str | bytes) else httpsig.load_private_pem(private_key)
        )
        self.signer = Signer(client, key, keyid)
        self.base_url = base_url.rstrip("/")
        self._node_key = httpsig.load_public_pem(node_public_key) if node_public_key else None
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    async def __aenter__(self) -> ExchangeClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def node_key(self) -> httpsig.PublicKey:
        if self._node_key is None:
            r = await self._http.get(self.base_url + "/api/exchange/v1/node-key")
            r.raise_for_status()
            self._node_key = httpsig.load_public_pem(r.json()["public_key"])
        return self._node_key

    async def request(
        self,
        method: str,
        service: str,
        path: str = "/",
        *,
        purpose: str | None = None,
        subject: str | None = None,
        dossier: str | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> ExchangeResponse:
        body = b"" if json is None else jsonlib.dumps(json, ensure_ascii=False).encode()
        signed = self.signer.sign(
            method,
            _url(self.base_url, service, path, params),
            body=body,
            purpose=purpose,
            subject=subject,
            dossier=dossier,
            content_type="application/json" if json is not None else None,
        )
        r = await self._http.request(signed.method, signed.url, headers=signed.headers, content=signed.body)
        keyid = verify_response(await self.node_key(), signed, r.status_code, dict(r.headers), r.content)
        h = httpsig.headers_of(r.headers.items())
        return ExchangeResponse(r.status_code, h, r.content, h.get(MESSAGE_ID, ""), True, keyid)

    async def get(self, service: str, path: str = "/", **kw: Any) -> ExchangeResponse:
        return await self.request("GET", service, path, **kw)

    async def post(self, service: str, path: str = "/", **kw: Any) -> ExchangeResponse:
        return await self.request("POST", service, path, **kw)

    async def metaservice(
        self, provider: str, name: str, params: dict[str, str] | None = None
    ) -> ExchangeResponse:
        """listMethods / allowedMethods / getOpenAPI on a provider subsystem (X-Road REST metaservices)."""
        url = f"{self.base_url}/r1/{provider}/{name}" + ("?" + urlencode(params) if params else "")
        signed = self.signer.sign("GET", url)
        r = await self._http.get(url, headers=signed.headers)
        keyid = verify_response(await self.node_key(), signed, r.status_code, dict(r.headers), r.content)
        h = httpsig.headers_of(r.headers.items())
        return ExchangeResponse(r.status_code, h, r.content, h.get(MESSAGE_ID, ""), True, keyid)


# --- in-process --------------------------------------------------------------------------------------


async def node_held_signer(runtime: Any, client: str) -> Signer:
    """The signer of one of this node's own subsystems (its private key sealed in the directory)."""
    cache: dict[str, Signer] = runtime.extras.setdefault("exchange.signers", {})
    if client in cache:
        return cache[client]
    sid = subsystem_id(client)
    m, s = members_t, subsystems_t
    q = (
        select(keys_t.c.key_id, keys_t.c.private_sealed)
        .join(s, s.c.id == keys_t.c.subsystem_id)
        .join(m, m.c.id == s.c.member_id)
        .where(
            m.c.instance == sid.member.instance,
            m.c.member_class == sid.member.member_class,
            m.c.code == sid.member.code,
            s.c.code == sid.code,
            keys_t.c.status == "active",
            keys_t.c.private_sealed.is_not(None),
        )
        .order_by(keys_t.c.created_at.desc())
    )
    async with runtime.db.uow(readonly=True) as uow:
        row = (await uow.session.execute(q)).first()
    if row is None:
        raise NotFound("This node holds no key for {client}", params={"client": client})
    key = httpsig.load_private_pem(SecretBox(runtime.secret, KEY_PURPOSE).open(row.private_sealed))
    signer = Signer(str(sid), key, row.key_id)
    cache[client] = signer
    return signer


async def call_service(
    runtime: Any,
    *,
    client: str,
    service: str,
    path: str,
    method: str = "GET",
    purpose: str,
    subject: str | None = None,
    dossier: str | None = None,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> ExchangeResponse:
    """Call a service through this node's gateway as one of the node's own subsystems.

    Same signature, checks (client, service, access right, nonce), message log and access log as a
    remote call; the response is verified against the node key like the SDK does.
    """
    signer = await node_held_signer(runtime, client)
    body = b"" if json is None else jsonlib.dumps(json, ensure_ascii=False).encode()
    url = _url(runtime.settings.issuer, service, path, params)
    signed = signer.sign(
        method,
        url,
        body=body,
        purpose=purpose,
        subject=subject,
        dossier=dossier,
        content_type="application/json" if json is not None else None,
    )
    split = httpx.URL(url)
    incoming = Incoming(
        method=signed.method,
        target_uri=url,
        path=unquote(f"{service}{path if path.startswith('/') else '/' + path}"),
        query=dict(split.params),
        headers=dict(signed.headers),
        body=body,
    )
    out = await gateway_for(runtime).handle(incoming)
    keyid = verify_response(runtime.node_key.public_key, signed, out.status, out.headers, out.body)
    return ExchangeResponse(out.status, out.headers, out.body, out.headers.get(MESSAGE_ID, ""), True, keyid)


async def register_node_subsystem(
    runtime: Any, actor: Any, *, member: str, code: str, algorithm: str = httpsig.ED25519
) -> str:
    """Register a subsystem of this node whose private key the node keeps (sealed with the node's
    SecretBox), so that `call_service` can sign as it. Returns the key id."""

    key: httpsig.PrivateKey = (
        Ed25519PrivateKey.generate()
        if algorithm == httpsig.ED25519
        else ec.generate_private_key(ec.SECP256R1())
    )
    sealed = SecretBox(runtime.secret, KEY_PURPOSE).seal(httpsig.private_pem(key))
    new = await directory.add_subsystem(
        runtime.db,
        actor,
        member=member,
        code=code,
        public_key_pem=httpsig.public_pem(key.public_key()),
        instance=runtime.settings.exchange_instance,
        private_sealed=sealed,
    )
    return new.key_id
