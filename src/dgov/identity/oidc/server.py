"""Authlib's framework-independent AuthorizationServer, adapted to Starlette and to dgov's storage.

The adapter is thin: a Starlette request becomes an `OAuth2Request` whose parameters were read (async)
beforehand, and Authlib's (status, body, headers) becomes a Starlette `Response`. The request URI is the
public issuer URL plus the path, so Authlib's HTTPS check applies to the address people really use (a
TLS-terminating proxy would otherwise make every request look like plain HTTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from authlib.common.encoding import json_dumps
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Payload, OAuth2Request, ResourceProtector
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc.jwk import KeySet
from sqlalchemy import or_, select
from starlette.datastructures import Headers
from starlette.responses import Response

from dgov.identity.context import IdentityContext
from dgov.identity.models import LoginSession, OAuthClient, OAuthToken
from dgov.identity.oidc import grants, keys
from dgov.identity.oidc.claims import ACR_VALUES, CLAIMS_SUPPORTED, SCOPE_CLAIMS, user_claims
from dgov.identity.oidc.storage import Client, Subject, Token, current, digest, load_token
from dgov.kernel.audit import AuditEntry


class Params(OAuth2Payload):  # type: ignore[misc]
    """Request parameters (query or form, chosen per endpoint), keeping repeated ones for Authlib's
    "parameter given twice" checks."""

    def __init__(self, multi: Mapping[str, list[str]]) -> None:
        self._datalist = {k: list(v) for k, v in multi.items()}
        self._data = {k: v[0] for k, v in self._datalist.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: Headers, params: Mapping[str, list[str]]) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = Params(params)

    @property
    def args(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data


def _claimed_client_id(request: Any) -> str | None:
    if request is None:
        return None
    basic_id, _secret = extract_basic_authorization(request.headers)
    claimed: str | None = basic_id or request.payload.data.get("client_id")
    return claimed


class OIDCServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, ctx: IdentityContext) -> None:
        super().__init__(scopes_supported=None)  # each client's registered scopes are the limit
        self.ctx = ctx
        self.register_token_generator("default", grants.generate_token)
        code_extensions = [grants.CodeChallenge(required=True), grants.OpenIDCode(ctx.issuer)]
        self.register_grant(grants.AuthorizationCodeGrant, code_extensions)
        self.register_grant(grants.RefreshTokenGrant)
        self.register_grant(grants.ClientCredentialsGrant)
        protector = Protector()
        protector.register_token_validator(AccessTokenValidator())
        self.register_endpoint(Revocation)
        self.register_endpoint(UserInfoEndpointImpl(resource_protector=protector))
        self.register_endpoint(EndSession)

    # --- storage ----------------------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 100:
            return None
        row = current().session.get(OAuthClient, client_id)
        if row is None or row.disabled_at is not None:
            return None
        return Client(row)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        grants.save_token(token, request)

    def create_token_response(self, request: Any = None) -> Response:
        """RFC 6749 §5.2: a token request without `grant_type` is malformed (`invalid_request`);
        `unsupported_grant_type` is for a grant type the server does not know."""
        if not request.payload.data.get("grant_type"):
            return self.handle_error_response(request, InvalidRequestError("grant_type is required"))
        response: Response = super().create_token_response(request)
        return response

    # --- framework adapter ------------------------------------------------------------------------

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if not isinstance(request, OAuth2Request):
            raise TypeError("build the request with dgov.identity.oidc.api before calling the server")
        return request

    def create_json_request(self, request: Any) -> Any:
        return self.create_oauth2_request(request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        content = json_dumps(body) if isinstance(body, dict) else (body or "")
        return Response(content, status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's hook for framework signals; dgov audits where things happen instead."""

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        self.audit_failure(request, error)
        response: Response = super().handle_error_response(request, error)
        return response

    def audit_failure(self, request: Any, error: OAuth2Error) -> None:
        """Every refusal leaves a trace: which endpoint, which client, why (never a secret or token)."""
        s = current()
        if error.error == "access_denied":
            return  # the person said no: recorded as identity.oidc.consent_denied
        client_id = _claimed_client_id(request)
        s.audit(
            AuditEntry(
                actor=s.login.principal.ref if s.login else "anonymous",
                action=f"identity.oidc.{s.endpoint}_failed",
                object_type="oauth_client",
                object_id=(client_id or "unknown")[:100],
                details={
                    "error": error.error,
                    "reason": s.reason or error.get_error_description() or error.error,
                    "ip": s.ip or "",
                },
            )
        )
        s.reason = None


# --- userinfo ---------------------------------------------------------------------------------------


class AccessTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> Token | None:
        s = current()
        row = s.session.scalar(select(OAuthToken).where(OAuthToken.access_hash == digest(token_string)))
        token = load_token(s.session, row, s.now)
        if token is None:
            s.reason = "unknown_access_token"
        elif token.is_revoked():
            s.reason = "access_token_revoked"
        elif token.is_expired():
            s.reason = "access_token_expired"
        elif token.account is not None and token.account.status != "active":
            s.reason = "account_inactive"
            return None
        return token


class Protector(ResourceProtector):  # type: ignore[misc]
    def acquire_token(self, scopes: Any = None) -> Token:
        wanted = [scopes] if isinstance(scopes, str) else scopes
        token: Token = self.validate_request(wanted, current().request)
        return token


class UserInfoEndpointImpl(UserInfoEndpoint):  # type: ignore[misc]
    def __call__(self, _request: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        token: Token = self.resource_protector.acquire_token("openid")
        user = token.get_user()
        if user is None:
            current().reason = "token_without_person"
            raise InvalidTokenError()
        info = self.generate_user_info(user, token.scope)
        s = current()
        s.audit(
            AuditEntry(
                actor=f"client:{token.row.client_id}",
                on_behalf_of=f"{user.account.kind}:{user.account.id}",
                action="identity.oidc.userinfo_read",
                object_type="account",
                object_id=str(user.account.id),
                details={"claims": sorted(k for k in info if k != "sub")},
            )
        )
        return 200, info, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]

    def generate_user_info(self, user: Subject, scope: str) -> UserInfo:
        return UserInfo(user_claims(user.account, user.sub, scope_to_list(scope) or []))

    def get_issuer(self) -> str:
        return current().ctx.issuer


# --- revocation (RFC 7009) --------------------------------------------------------------------------


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post", "none"]

    def check_params(self, request: Any, _client: Any) -> None:
        """RFC 7009 §2.1: the hint only speeds the search; a server that cannot use it searches every
        token type. An unknown hint is therefore ignored, never an error (we search both anyway)."""
        if "token" not in request.form:
            raise InvalidRequestError()

    def query_token(self, token_string: str, _token_type_hint: str | None) -> Token | None:
        s = current()
        h = digest(token_string)
        row = s.session.scalar(
            select(OAuthToken).where(or_(OAuthToken.access_hash == h, OAuthToken.refresh_hash == h))
        )
        if row is not None and row.client_id != _claimed_client_id(s.request):
            s.reason = "token_of_another_client"  # refused by Authlib's check_client, audited with this
        return load_token(s.session, row, s.now)

    def revoke_token(self, token: Token, request: Any) -> None:
        """Revoking either token of a grant ends the grant: access and refresh alike (RFC 7009 §2.1)."""
        s = current()
        if token.row.revoked_at is None:
            token.row.revoked_at = s.now
        s.audit(
            AuditEntry(
                actor=f"client:{token.row.client_id}",
                on_behalf_of=f"{token.account.kind}:{token.account.id}" if token.account else None,
                action="identity.oidc.token_revoked",
                object_type="oauth_token",
                object_id=str(token.row.id),
                details={"hint": request.form.get("token_type_hint") or ""},
            )
        )


# --- RP-initiated logout ----------------------------------------------------------------------------


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    def get_server_jwks(self) -> KeySet:
        s = current()
        return keys.public_key_set(s.session, s.now)

    def get_algorithms(self) -> list[str]:
        return list(keys.ALGORITHMS)

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        s = current()
        login = s.login
        client = end_session_request.client
        if login is not None:
            row = s.session.get(LoginSession, login.session.id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = s.now
        s.audit(
            AuditEntry(
                actor=login.principal.ref if login else "anonymous",
                action="identity.oidc.logout",
                object_type="oauth_client",
                object_id=client.client_id if client else "unknown",
                details={
                    "session_ended": login is not None,
                    "redirect": bool(end_session_request.redirect_uri),
                },
            )
        )


def discovery(issuer: str, client_scopes: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """The provider's metadata. `client_scopes`: what registered clients may be granted besides the
    person's scopes (e.g. `registry.population.read` for an agency system), so the list is complete."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "scopes_supported": [*SCOPE_CLAIMS, *sorted(set(client_scopes) - set(SCOPE_CLAIMS))],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            *CLAIMS_SUPPORTED,
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "at_hash",
        ],
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["vi", "en"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": False,
    }
