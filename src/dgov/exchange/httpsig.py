"""RFC 9421 HTTP Message Signatures and RFC 9530 Content-Digest, as the gateway needs them.

Small on purpose: the signature base is built from the covered components and the `@signature-params`
line exactly as RFC 9421 §2.5 lays it out, structured fields are parsed and serialised with http-sfv,
and the keys are Ed25519 (`ed25519`) or ECDSA P-256 with SHA-256 (`ecdsa-p256-sha256`, the signature
being r‖s, 64 bytes, RFC 9421 §3.3.4). Interoperability with an independent implementation is shown in
tests/exchange/test_interop.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList, Item

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
ALGORITHMS = (ED25519, ECDSA_P256)

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey

_DIGESTS: dict[str, Callable[[bytes], Any]] = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def N_(message: str) -> str:
    """Marks a msgid for extraction: the gateway translates these when it answers."""
    return message


class SignatureError(ValueError):
    """Why a message's signature or digest is not acceptable (`reason` is a stable code for the log)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- keys ------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, Ed25519PublicKey | Ed25519PrivateKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return ECDSA_P256
    raise ValueError("only Ed25519 and ECDSA P-256 keys are accepted")


def load_public_pem(pem: str | bytes) -> PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("only Ed25519 and ECDSA P-256 keys are accepted")
    algorithm_of(key)
    return key


def load_private_pem(pem: str | bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("only Ed25519 and ECDSA P-256 keys are accepted")
    algorithm_of(key)
    return key


def public_pem(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def private_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def jwk_thumbprint(key: PublicKey) -> str:
    """RFC 7638: SHA-256 over the required JWK members in lexicographic order, base64url."""
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = f'{{"crv":"Ed25519","kty":"OKP","x":"{_b64url(raw)}"}}'
    else:
        nums = key.public_numbers()
        x, y = _b64url(nums.x.to_bytes(32, "big")), _b64url(nums.y.to_bytes(32, "big"))
        members = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'
    return _b64url(hashlib.sha256(members.encode("ascii")).digest())


def raw_sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        return key.sign(data)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(signature, data)
        else:
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# --- Content-Digest (RFC 9530) ---------------------------------------------------------------------


def content_digest(body: bytes, algorithm: str = "sha-256") -> str:
    d = Dictionary()
    d[algorithm] = Item(_DIGESTS[algorithm](body).digest())
    return str(d)


def check_content_digest(value: str | None, body: bytes) -> str:
    """Raise unless the field holds at least one known digest and every known one matches; returns the
    algorithm checked first (for the log)."""
    if not value:
        raise SignatureError("digest-missing", N_("Content-Digest is missing"))
    d = Dictionary()
    try:
        d.parse(value.encode("ascii"))
    except (ValueError, UnicodeError) as exc:
        raise SignatureError("digest-malformed", N_("Content-Digest is not a structured dictionary")) from exc
    known = [(alg, item) for alg, item in d.items() if alg in _DIGESTS]
    if not known:
        raise SignatureError("digest-unsupported", N_("Content-Digest carries no sha-256 or sha-512 digest"))
    for alg, item in known:
        if not isinstance(item, Item) or not isinstance(item.value, bytes):
            raise SignatureError("digest-malformed", N_("Content-Digest values must be byte sequences"))
        if not hmac.compare_digest(item.value, _DIGESTS[alg](body).digest()):
            raise SignatureError("digest-mismatch", N_("Content-Digest does not match the body"))
    return str(known[0][0])


# --- messages and the signature base (RFC 9421 §2) -------------------------------------------------


@dataclass(frozen=True)
class Message:
    """What a signature can cover. `headers` maps lower-case names to their combined field value."""

    method: str = ""
    target_uri: str = ""
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    request: Message | None = None  # for `;req` components of a response signature


def headers_of(pairs: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Combine field lines as RFC 9110 §5.3 does (values joined with ", "), names lower-cased."""
    out: dict[str, str] = {}
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    for name, value in items:
        key = name.lower()
        v = value.strip()
        out[key] = f"{out[key]}, {v}" if key in out else v
    return out


def _split_uri(uri: str) -> tuple[str, str, str, str]:
    scheme, _, rest = uri.partition("://")
    authority, slash, tail = rest.partition("/")
    path, _, query = (slash + tail).partition("?")
    return scheme.lower(), authority.lower(), path or "/", query


def _component_value(item: Item, msg: Message) -> str:
    name = str(item.value)
    params = dict(item.params)
    unsupported = set(params) - {"req"}
    if unsupported:
        raise SignatureError(
            "component-unsupported", f"component parameter {sorted(unsupported)} not supported"
        )
    if params.get("req"):
        if msg.request is None:
            raise SignatureError("component-unsupported", N_("`req` is only valid on a response signature"))
        msg = msg.request
    if name.startswith("@"):
        if name == "@method":
            return msg.method.upper()
        if name == "@status":
            if msg.status is None:
                raise SignatureError("component-unsupported", N_("@status is only valid on a response"))
            return str(msg.status)
        scheme, authority, path, query = _split_uri(msg.target_uri)
        derived = {
            "@target-uri": msg.target_uri,
            "@authority": authority,
            "@scheme": scheme,
            "@path": path,
            "@query": "?" + query,
            "@request-target": path + ("?" + query if query else ""),
        }
        if name not in derived:
            raise SignatureError("component-unsupported", f"derived component {name} is not supported")
        return derived[name]
    if name != name.lower():
        raise SignatureError("component-malformed", N_("component names must be lower case"))
    if name not in msg.headers:
        raise SignatureError("component-missing", f"covered field {name} is not in the message")
    return msg.headers[name]


def signature_base(msg: Message, components: InnerList) -> bytes:
    lines: list[str] = []
    seen: set[str] = set()
    for item in components:
        if not isinstance(item, Item) or not isinstance(item.value, str):
            raise SignatureError("component-malformed", N_("covered components must be strings"))
        ident = str(item)
        if ident in seen:
            raise SignatureError("component-malformed", f"component {ident} is covered twice")
        seen.add(ident)
        value = _component_value(item, msg)
        if "\n" in value or "\r" in value:
            raise SignatureError("component-malformed", N_("component values cannot hold line breaks"))
        lines.append(f"{ident}: {value}")
    lines.append(f'"@signature-params": {components}')
    base = "\n".join(lines)
    if not base.isascii():
        raise SignatureError("component-malformed", N_("the signature base must be ASCII"))
    return base.encode("ascii")


def _inner_list(components: Sequence[str], params: Mapping[str, Any]) -> InnerList:
    il = InnerList()
    for c in components:
        name, _, flag = c.partition(";")
        item = Item(name)
        if flag:
            item.params[flag] = True
        il.append(item)
    for k, v in params.items():
        if v is not None:
            il.params[k] = v
    return il


def _component_text(component: str) -> str:
    """ "@method;req" → '"@method";req', as a covered component serialises."""
    name, _, flag = component.partition(";")
    return f'"{name}"' + (f";{flag}" if flag else "")


def sign(
    msg: Message,
    *,
    key: PrivateKey,
    keyid: str,
    components: Sequence[str],
    created: int,
    nonce: str | None = None,
    label: str = "sig1",
    include_alg: bool = True,
) -> dict[str, str]:
    """Return the `Signature-Input` and `Signature` fields to add (covered fields must already be set)."""
    alg = algorithm_of(key)
    params = {"created": created, "keyid": keyid, "nonce": nonce, "alg": alg if include_alg else None}
    il = _inner_list(components, params)
    signature = raw_sign(key, signature_base(msg, il))
    inputs, sigs = Dictionary(), Dictionary()
    inputs[label] = il
    sigs[label] = Item(signature)
    return {"signature-input": str(inputs), "signature": str(sigs)}


@dataclass(frozen=True)
class Verified:
    label: str
    keyid: str
    alg: str
    created: int
    nonce: str | None
    covered: tuple[str, ...]
    signature: str  # the Signature member, as sent (for the message log)
    signature_input: str


KeyResolver = Callable[[str], tuple[PublicKey, str]]


def parse_signature(
    headers: Mapping[str, str], label: str | None = None
) -> tuple[str, InnerList, bytes, str, str]:
    """The first signature of the message, or the one labelled `label`: (label, covered components with
    params, signature bytes, its Signature-Input member and Signature member as text)."""
    raw_input, raw_sig = headers.get("signature-input"), headers.get("signature")
    if not raw_input or not raw_sig:
        raise SignatureError("signature-missing", N_("the message is not signed (Signature-Input/Signature)"))
    inputs, sigs = Dictionary(), Dictionary()
    try:
        inputs.parse(raw_input.encode("ascii"))
        sigs.parse(raw_sig.encode("ascii"))
    except (ValueError, UnicodeError) as exc:
        raise SignatureError("signature-malformed", N_("Signature-Input or Signature is malformed")) from exc
    for name, il in inputs.items():
        if label is not None and name != label:
            continue
        sig = sigs.get(name)
        if not isinstance(il, InnerList) or not isinstance(sig, Item):
            raise SignatureError("signature-malformed", N_("Signature-Input and Signature do not match"))
        if not isinstance(sig.value, bytes):
            raise SignatureError("signature-malformed", N_("the signature must be a byte sequence"))
        one_in, one_sig = Dictionary(), Dictionary()
        one_in[name], one_sig[name] = il, sig
        return name, il, sig.value, str(one_in), str(one_sig)
    raise SignatureError("signature-missing", N_("the message is not signed (Signature-Input/Signature)"))


def verify(
    msg: Message,
    *,
    resolve: KeyResolver,
    required: Sequence[str],
    now: int,
    max_age: int = 300,
    skew: int = 30,
    require_nonce: bool = True,
    label: str | None = None,
) -> Verified:
    """Check the message's first signature (or the one labelled `label`). `resolve(keyid)` returns
    (public key, algorithm) or raises SignatureError; `required` lists components that must be covered
    (e.g. "@method", "content-digest")."""
    label, il, signature, sig_input, sig_text = parse_signature(msg.headers, label)
    params = dict(il.params)
    keyid, created, nonce, alg = (
        params.get("keyid"),
        params.get("created"),
        params.get("nonce"),
        params.get("alg"),
    )
    if not isinstance(keyid, str) or not keyid:
        raise SignatureError("keyid-missing", N_("the signature names no keyid"))
    if not isinstance(created, int) or isinstance(created, bool):
        raise SignatureError("created-missing", N_("the signature has no `created` time"))
    if require_nonce and (not isinstance(nonce, str) or not nonce):
        raise SignatureError("nonce-missing", N_("the signature has no nonce"))
    covered = tuple(str(i) for i in il)
    missing = [c for c in required if _component_text(c) not in covered]
    if missing:
        raise SignatureError("signature-coverage", f"the signature must cover {', '.join(missing)}")
    if created < now - max_age:
        raise SignatureError("signature-stale", N_("the signature was created more than 5 minutes ago"))
    if created > now + skew:
        raise SignatureError("signature-future", N_("the signature's `created` time is in the future"))
    expires = params.get("expires")
    if isinstance(expires, int) and expires < now:
        raise SignatureError("signature-expired", N_("the signature has expired"))
    key, key_alg = resolve(keyid)
    if alg is not None and alg != key_alg:
        raise SignatureError("alg-mismatch", N_("the signature's algorithm does not match the key"))
    if not raw_verify(key, signature, signature_base(msg, il)):
        raise SignatureError("signature-invalid", N_("the signature does not verify"))
    return Verified(
        label=label,
        keyid=keyid,
        alg=key_alg,
        created=created,
        nonce=nonce if isinstance(nonce, str) else None,
        covered=covered,
        signature=sig_text,
        signature_input=sig_input,
    )
