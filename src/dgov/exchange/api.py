"""HTTP face of the exchange: the gateway under /r1/, and the directory node's endpoints under
/api/exchange/v1 (the signed directory document other nodes fetch, and the node key)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from dgov.exchange import directory, httpsig, pubsub_api
from dgov.exchange.federation import directory_document
from dgov.exchange.gateway import gateway_for
from dgov.exchange.gateway_wire import Incoming, public_target_uri
from dgov.kernel import clock
from dgov.kernel.errors import FieldError, Unauthenticated, ValidationFailed
from dgov.web.deps import get_runtime

router = APIRouter(tags=["exchange"])
# The label of the second signature a registration under an existing member carries (by a member key).
MEMBER_SIGNATURE = "member"
app_router = router


def target_uri(request: Request) -> str:
    """The URI the client's signature must cover: this node's public base URL (`DGOV_PUBLIC_URL`) and
    the raw path (not the decoded one), never the Host header the client sent."""
    scope = request.scope
    raw = scope.get("raw_path") or scope["path"].encode()
    return public_target_uri(get_runtime(request).settings.issuer, raw, scope.get("query_string", b""))


@router.api_route(
    "/r1/{address:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def gateway(request: Request, address: str) -> Response:
    gw = gateway_for(get_runtime(request))
    incoming = Incoming(
        method=request.method,
        target_uri=target_uri(request),
        path=address,
        query=dict(request.query_params),
        headers=httpsig.headers_of(request.headers.items()),
        body=await request.body(),
    )
    out = await gw.handle(incoming)
    return Response(
        out.body, status_code=out.status, headers=out.headers, media_type=out.headers["content-type"]
    )


@router.get("/api/exchange/v1/directory")
async def signed_directory(request: Request) -> Response:
    """The directory (members, subsystem keys, services, rights) signed with this node's key, for
    agency nodes whose DGOV_EXCHANGE_CENTRAL_URL points here."""
    rt = get_runtime(request)
    doc = await directory_document(rt.db, instance=rt.settings.exchange_instance, node=rt.settings.node_name)
    body = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode()
    headers = {"content-type": "application/json", "content-digest": httpsig.content_digest(body)}
    msg = httpsig.Message(
        status=200,
        headers=headers,
        request=httpsig.Message(method="GET", target_uri=target_uri(request), headers={}),
    )
    headers.update(
        httpsig.sign(
            msg,
            key=rt.node_key.private_key,
            keyid=rt.node_key.key_id,
            components=("@status", "content-type", "content-digest"),
            created=int(clock.now().timestamp()),
        )
    )
    return Response(body, headers=headers, media_type="application/json")


class RegistrationIn(BaseModel):
    member_class: str = Field(max_length=10)
    member_code: str = Field(max_length=50)
    member_name: str = Field(max_length=300)
    subsystem_code: str = Field(max_length=50)
    public_key: str = Field(max_length=2000)
    server_url: str = Field(default="", max_length=300)


@router.post("/api/exchange/v1/registrations", status_code=202)
async def register(request: Request) -> dict[str, str]:
    """A subsystem asks to join the directory, signing the request (RFC 9421, with Content-Digest) with
    the very key it registers; it waits as `pending` until an operator approves it
    (`dgov exchange approve`). Under a member already in the directory, the request carries a second
    signature, labelled `member`, by one of that member's subsystem keys (`Signer.countersign`)."""
    rt = get_runtime(request)
    body = await request.body()
    try:
        data = RegistrationIn.model_validate_json(body)
    except ValidationError as exc:
        raise ValidationFailed(
            errors=[
                FieldError(tuple(str(x) for x in e["loc"]), "This value is not valid") for e in exc.errors()
            ]
        ) from None
    try:
        key = httpsig.load_public_pem(data.public_key)
        headers = httpsig.headers_of(request.headers.items())
        httpsig.check_content_digest(headers.get("content-digest"), body)
        verified = httpsig.verify(
            httpsig.Message(method="POST", target_uri=target_uri(request), headers=headers),
            resolve=lambda _kid: (key, httpsig.algorithm_of(key)),
            required=("@method", "@target-uri", "content-digest"),
            now=int(clock.now().timestamp()),
        )
    except (httpsig.SignatureError, ValueError) as exc:
        raise Unauthenticated("Sign the registration with the key being registered") from exc
    if verified.keyid != httpsig.jwk_thumbprint(key):
        raise Unauthenticated("Sign the registration with the key being registered")

    def member_proof(keys: Mapping[str, tuple[httpsig.PublicKey, str]]) -> str:
        """Under an existing member: a second signature (label `member`) by one of its keys."""

        def resolve(kid: str) -> tuple[httpsig.PublicKey, str]:
            if kid not in keys:
                raise httpsig.SignatureError("unknown-key", "the keyid is not a key of this member")
            return keys[kid]

        return httpsig.verify(
            httpsig.Message(method="POST", target_uri=target_uri(request), headers=headers),
            resolve=resolve,
            required=("@method", "@target-uri", "content-digest"),
            now=int(clock.now().timestamp()),
            label=MEMBER_SIGNATURE,
        ).keyid

    reg = await directory.submit_registration(
        rt.db,
        instance=rt.settings.exchange_instance,
        member_class=data.member_class,
        member_code=data.member_code,
        member_name=data.member_name,
        subsystem_code=data.subsystem_code,
        public_key_pem=data.public_key,
        server_url=data.server_url,
        member_proof=member_proof,
    )
    return {"subsystem": str(reg.address), "key_id": reg.key_id, "status": reg.status}


@router.get("/api/exchange/v1/node-key")
async def node_key(request: Request) -> dict[str, str]:
    """The public key this node signs gateway responses and its directory document with."""
    rt = get_runtime(request)
    return {"key_id": rt.node_key.key_id, "alg": httpsig.ED25519, "public_key": rt.node_key.public_pem()}


app_router.include_router(pubsub_api.router)
