"""Identity tables. Secrets are stored hashed (passwords, codes, tokens) or sealed (TOTP seeds, keys)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime


class Account(Base):
    __tablename__ = "identity_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # citizen | official | operator
    id_number: Mapped[str | None] = mapped_column(String(12), unique=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))  # M | F
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(Text)  # sealed with kernel.crypto
    totp_last_step: Mapped[int | None] = mapped_column(Integer)  # a code is accepted once
    status: Mapped[str] = mapped_column(String(20))  # pending | active | disabled
    # Children under 14 have no login of their own: a parent or guardian acts for them.
    guardian_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("identity_accounts.id"))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_identity_accounts_guardian", "guardian_id"),)


class OfficialRole(Base):
    """A role held by an official in one agency, scoped to one administrative unit (or nationwide: "*")."""

    __tablename__ = "identity_official_roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_accounts.id", ondelete="CASCADE"))
    agency_code: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(50))
    unit_code: Mapped[str] = mapped_column(String(10))

    __table_args__ = (Index("ix_identity_official_roles_account", "account_id"),)


class LoginSession(Base):
    """A server-side session. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "identity_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_accounts.id", ondelete="CASCADE"))
    # 0 = password accepted, second factor still owed; 1 and 2 = assurance level reached.
    level: Mapped[int] = mapped_column(Integer)
    amr: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_identity_sessions_account", "account_id"),)


class OneTimeCode(Base):
    """Activation and password-reset codes, delivered through the notification outbox."""

    __tablename__ = "identity_one_time_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_accounts.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))  # activate | reset
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_identity_one_time_codes_account", "account_id", "purpose"),)


class Throttle(Base):
    """Failed attempts per key (e.g. "ip:203.0.113.5") in a sliding window, shared by all workers."""

    __tablename__ = "identity_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer)


class OAuthClient(Base):
    __tablename__ = "identity_oauth_clients"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list[str]] = mapped_column(JSONType)
    scopes: Mapped[str] = mapped_column(Text)
    grant_types: Mapped[list[str]] = mapped_column(JSONType)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    id_token_alg: Mapped[str] = mapped_column(String(10), default="ES256")
    # Pairwise subjects are computed per sector, so two clients of one organisation may share one.
    sector: Mapped[str] = mapped_column(String(200))
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthorizationCode(Base):
    __tablename__ = "identity_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("identity_oauth_clients.client_id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_accounts.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(300))
    code_challenge: Mapped[str | None] = mapped_column(String(200))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    acr: Mapped[str] = mapped_column(String(50))
    amr: Mapped[list[str]] = mapped_column(JSONType)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OAuthToken(Base):
    __tablename__ = "identity_oauth_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("identity_oauth_clients.client_id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("identity_accounts.id", ondelete="CASCADE")
    )
    scope: Mapped[str] = mapped_column(Text)
    acr: Mapped[str | None] = mapped_column(String(50))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_identity_oauth_tokens_account", "account_id", "client_id"),)


class Consent(Base):
    """What a person agreed to release to which client; revocable from the account page."""

    __tablename__ = "identity_consents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_accounts.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(ForeignKey("identity_oauth_clients.client_id", ondelete="CASCADE"))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_identity_consents_account_client", "account_id", "client_id"),)


class SigningKey(Base):
    """ID-token signing keys. A retired key stays published in the JWKS until `publish_until`."""

    __tablename__ = "identity_signing_keys"

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    private_jwk: Mapped[str] = mapped_column(Text)  # sealed
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
