"""The grants dgov issues: authorization code (+ PKCE, + OpenID Connect), refresh token with rotation,
and client credentials for agency systems. Authlib does the protocol; these classes only store.

Codes live 60 seconds and are consumed atomically on first presentation: a second presentation is a
replay, and the tokens issued from the code are revoked (RFC 6749 §4.1.2). A refresh token carries its
grant's id in clear, so a rotated-away refresh token that comes back (stolen and replayed) is
recognised and ends the whole grant.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge as _CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from dgov.identity.models import Account, AuthorizationCode, OAuthClient, OAuthToken
from dgov.identity.oidc import keys
from dgov.identity.oidc.claims import USER_SCOPES, acr_for
from dgov.identity.oidc.storage import (
    Client,
    Code,
    Subject,
    Token,
    current,
    digest,
    grant_id_for_code,
    load_token,
)
from dgov.kernel.audit import AuditEntry
from dgov.kernel.ids import new_id

CODE_TTL = timedelta(seconds=60)
ACCESS_TTL = timedelta(minutes=10)
REFRESH_TTL = timedelta(days=30)
CONFIDENTIAL_AND_PUBLIC = ["client_secret_basic", "client_secret_post", "none"]


def _revoke_grant(grant_id: uuid.UUID) -> bool:
    s = current()
    row = s.session.get(OAuthToken, grant_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = s.now
    return True


# --- PKCE -------------------------------------------------------------------------------------------


class CodeChallenge(_CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only (plain gives no protection once the request is seen); mandatory for public
    clients, allowed for confidential ones."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {"S256": _CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant: Any, redirect_uri: Any) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge"):
            if data.get("code_challenge_method") != "S256":
                current().reason = "pkce_method_not_s256"
                raise InvalidRequestError("code_challenge_method must be S256")
        elif grant.request.client is not None and grant.request.client.public:
            current().reason = "pkce_missing"
            raise InvalidRequestError("A public client must use PKCE with S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        try:
            super().validate_code_verifier(grant, result)
        except OAuth2Error:
            current().reason = "pkce_mismatch" if grant.request.form.get("code_verifier") else "pkce_missing"
            raise


# --- authorization code -----------------------------------------------------------------------------


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AND_PUBLIC

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        if "openid" not in (scope_to_list(self.request.scope) or []):
            current().reason = "openid_scope_missing"
            raise InvalidScopeError("The openid scope is required", redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code: str, request: Any) -> None:
        s = current()
        login = s.login
        assert login is not None, "a code is only issued to a logged-in person"
        data = request.payload.data
        row = AuthorizationCode(
            code_hash=digest(code),
            client_id=request.client.client_id,
            account_id=login.account.id,
            session_id=login.session.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method") if data.get("code_challenge") else None,
            acr=acr_for(login.session.level),
            amr=list(login.session.amr or []),
            auth_time=login.session.auth_time,
            created_at=s.now,
            expires_at=s.now + CODE_TTL,
        )
        s.session.add(row)
        s.audit(
            AuditEntry(
                actor=login.principal.ref,
                action="identity.oidc.code_issued",
                object_type="oauth_client",
                object_id=request.client.client_id,
                details={"scope": request.scope, "acr": row.acr},
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        s = current()
        code_hash = digest(code)
        row = s.session.get(AuthorizationCode, code_hash)
        if row is None or row.client_id != client.client_id:
            s.reason = "unknown_code"
            return None
        if row.used_at is not None:
            s.reason = "code_replayed"
            if _revoke_grant(grant_id_for_code(code_hash)):
                s.reason = "code_replayed_tokens_revoked"
            return None
        if row.expires_at <= s.now:
            s.reason = "code_expired"
            return None
        # Consumed here, atomically, whatever happens next: of two concurrent exchanges one wins.
        consumed = s.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.used_at.is_(None))
            .values(used_at=s.now)
            .execution_options(synchronize_session=False)
        )
        if consumed.rowcount != 1:  # type: ignore[attr-defined]
            s.reason = "code_replayed"
            return None
        return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing to do: the code was marked used when it was presented (kept to detect replays)."""

    def authenticate_user(self, authorization_code: Code) -> Subject | None:
        s = current()
        account = s.session.get(Account, authorization_code.row.account_id)
        if account is None or account.status != "active":
            s.reason = "account_inactive"
            return None
        return Subject.of(s.ctx, account, self.request.client.row)


class OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    """ID tokens: ES256 unless the client asked for RS256; only `sub` in the ID token (the other claims
    come from userinfo, under the scopes the person agreed to)."""

    def __init__(self, issuer: str) -> None:
        super().__init__(require_nonce=False)
        self.issuer = issuer

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        s = current()
        found = s.session.scalar(
            select(AuthorizationCode.code_hash)
            .where(AuthorizationCode.client_id == request.payload.client_id, AuthorizationCode.nonce == nonce)
            .limit(1)
        )
        if found is not None:
            s.reason = "nonce_reused"
        return found is not None

    def _key(self, client: Client) -> tuple[str, Any]:
        s = current()
        alg = self.get_client_algorithm(client)
        cached = s.cache.get(f"key:{alg}")
        if cached is None:
            cached = s.cache[f"key:{alg}"] = keys.signing_key(s.session, s.ctx, alg, s.now)
        return cached

    def get_client_algorithm(self, client: Client) -> str:
        return client.row.id_token_alg or keys.DEFAULT_ALG

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return KeySet([self._key(client)[1]])

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": self.get_client_algorithm(client), "kid": self._key(client)[0], "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(current().now.timestamp())
        return {
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + int(keys.ID_TOKEN_TTL.total_seconds()),
        }

    def generate_user_info(self, user: Subject, _scope: str) -> dict[str, str]:
        return {"sub": user.sub}


# --- refresh tokens ---------------------------------------------------------------------------------


def _grant_id_of(refresh_token: str) -> uuid.UUID | None:
    head, _sep, _rest = refresh_token.partition(".")
    try:
        return uuid.UUID(hex=head)
    except ValueError:
        return None


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AND_PUBLIC
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh returns a new refresh token

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        s = current()
        row = s.session.scalar(select(OAuthToken).where(OAuthToken.refresh_hash == digest(refresh_token)))
        if row is None:
            grant_id = _grant_id_of(refresh_token)
            family = s.session.get(OAuthToken, grant_id) if grant_id else None
            if family is not None and family.refresh_hash is not None and family.revoked_at is None:
                # A refresh token of a live grant, but not its current one: it was rotated away, so
                # someone kept a copy. End the grant for everybody (RFC 9700 §4.14.2).
                family.revoked_at = s.now
                s.reason = "refresh_token_reused_grant_revoked"
            else:
                s.reason = "unknown_refresh_token"
            return None
        if row.revoked_at is not None:
            s.reason = "refresh_token_revoked"
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= s.now:
            s.reason = "refresh_token_expired"
            return None
        return load_token(s.session, row, s.now)

    def authenticate_user(self, refresh_token: Token) -> Subject | None:
        s = current()
        account = refresh_token.account
        if account is None or account.status != "active":
            s.reason = "account_inactive"
            return None
        return Subject.of(s.ctx, account, refresh_token.client)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Nothing to do: `save_token` rotated the grant's hashes in place, so the old ones are gone."""


# --- client credentials -----------------------------------------------------------------------------


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if set(scope_to_list(self.request.payload.scope) or []) & USER_SCOPES:
            current().reason = "user_scope_without_user"
            raise InvalidScopeError("Scopes about a person need a person: use the authorization code flow")


# --- tokens -----------------------------------------------------------------------------------------


def generate_token(
    client: Client,
    user: Subject | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
    **_grant_type: str,  # Authlib passes every argument by name, the grant type too; one generator serves all
) -> dict[str, Any]:
    scope = BearerTokenGenerator.get_allowed_scope(client, scope)
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": secrets.token_urlsafe(32),
        "expires_in": expires_in or int(ACCESS_TTL.total_seconds()),
        "scope": scope,
    }
    # Refresh tokens only for a person who agreed to offline access; save_token prefixes the grant id.
    if include_refresh_token and user is not None and "offline_access" in (scope_to_list(scope) or []):
        token["refresh_token"] = secrets.token_urlsafe(32)
    return token


def save_token(token: dict[str, Any], request: Any) -> None:
    s = current()
    grant_type = request.payload.grant_type
    client: OAuthClient = request.client.row
    user: Subject | None = request.user
    account_ref = f"{user.account.kind}:{user.account.id}" if user is not None else None
    if grant_type == "refresh_token":
        row = request.refresh_token.row
        action = "identity.oidc.token_refreshed"
    else:
        code: Code | None = request.authorization_code
        row = OAuthToken(
            id=grant_id_for_code(code.row.code_hash) if code is not None else new_id(),
            client_id=client.client_id,
            account_id=user.account.id if user is not None else None,
            acr=code.row.acr if code is not None else None,
        )
        s.session.add(row)
        action = "identity.oidc.token_issued"
    if "refresh_token" in token:
        token["refresh_token"] = f"{row.id.hex}.{token['refresh_token']}"
    row.access_hash = digest(token["access_token"])
    row.refresh_hash = digest(token["refresh_token"]) if "refresh_token" in token else None
    row.scope = token.get("scope") or ""
    row.issued_at = s.now
    row.expires_at = s.now + timedelta(seconds=int(token["expires_in"]))
    row.refresh_expires_at = s.now + REFRESH_TTL if "refresh_token" in token else None
    s.audit(
        AuditEntry(
            actor=f"client:{client.client_id}",
            on_behalf_of=account_ref,
            action=action,
            object_type="oauth_token",
            object_id=str(row.id),
            details={"grant_type": grant_type, "scope": row.scope, "refresh": "refresh_token" in token},
        )
    )
