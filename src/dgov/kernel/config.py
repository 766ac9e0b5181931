"""Settings read from `DGOV_*` environment variables and `.env`.

One settings object chooses the shape the platform runs in (embedded SQLite, PostgreSQL, event bus…);
nothing outside this module reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DGOV_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path("var")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    # The address people and relying parties reach this node at (the OIDC issuer); defaults to host:port.
    public_url: str = ""
    # Where `npm ci` put front-end packages; pages are served from here so no CDN is ever needed.
    assets_dir: Path = Path("node_modules")
    secret_key: SecretStr | None = None
    default_locale: Literal["vi", "en"] = "vi"
    node_name: str = "dgov-dev"
    # Sign a checkpoint over the audit chain every N records (and on `dgov audit checkpoint`).
    audit_checkpoint_every: int = Field(default=1000, ge=1)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    outbox_max_attempts: int = Field(default=10, ge=1)
    # A claimed message returns to the queue after this long if its worker died mid-delivery.
    outbox_lease_seconds: float = Field(default=30, gt=0)
    # Run the outbox dispatcher inside web workers (off for a separate `dgov outbox run` process).
    outbox_in_process: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    https: bool = False
    # The developer's mailbox (/dev/messages) shows activation and reset codes: off unless asked for
    # explicitly, and even then only to a logged-in operator. Never served when env is prod.
    dev_mailbox: bool = False
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated,
    # as uvicorn takes them). Empty: none, so no client can choose the address that rate limits key on.
    forwarded_allow_ips: str = ""
    # The information mediator: this node's X-Road-style instance, and the directory (central) node
    # an agency node fetches members, keys and rights from (empty: this node is its own directory).
    exchange_instance: str = "VN"
    exchange_central_url: str = ""
    # Exchange webhooks (SSRF guard, exchange/webhook_urls.py): https only unless http is allowed here
    # (local work, tests); internal addresses only when the comma-separated list names the host, the
    # address or its network (CIDR), e.g. "127.0.0.1,hooks.internal,10.1.0.0/16".
    exchange_webhook_allow_http: bool = False
    exchange_webhook_allow: str = ""
    # NATS JetStream URL (nats://host:4222): every exchange event is also published there; empty: off.
    event_bus_url: str = ""
    metrics_multiproc_dir: Path | None = None
    # Largest file a person may upload or have verified (documents domain).
    documents_max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Largest request body the server reads: JSON and plain forms, and multipart forms (which carry
    # uploads: room for four files at the documents limit). Bigger ones get 413 before being read.
    request_max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    request_max_multipart_bytes: int = Field(default=41 * 1024 * 1024, ge=1024)
    # A request body must arrive within this many seconds (a stalled client holds memory): then 408.
    request_body_timeout_seconds: float = Field(default=30, gt=0)
    # Verifying a signed PDF (anonymous): largest file, most signature fields, time budget per file,
    # and requests per client address per minute. Documents this platform issues are well inside.
    documents_verify_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    documents_verify_max_signatures: int = Field(default=20, ge=1)
    documents_verify_timeout_seconds: float = Field(default=10.0, gt=0)
    documents_verify_per_minute: int = Field(default=20, ge=1)
    # Worker processes for CPU-bound work kept off the event loop (signature validation).
    cpu_workers: int = Field(default=2, ge=1)

    @field_validator("data_dir", "assets_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def db_url(self) -> str:
        """The async SQLAlchemy URL; an empty setting means the embedded SQLite file under `data_dir`."""
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'dgov.sqlite3'}"
        return to_async_url(url)

    @property
    def issuer(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def trusted_proxies(self) -> str | None:
        """uvicorn's `forwarded_allow_ips`, None when no proxy is trusted (and `proxy_headers` is off).
        uvicorn's own default trusts 127.0.0.1, so with no proxy (or a same-host one that passes the
        header on) any client could pick the address that per-address limits and audit records key on."""
        return self.forwarded_allow_ips.strip() or None

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


def to_async_url(url: str) -> str:
    if url.startswith("sqlite:///") or url.startswith("sqlite+pysqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg2://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def to_sync_url(url: str) -> str:
    """Alembic and a few CLI paths run synchronously; they use the same database through a sync driver."""
    url = to_async_url(url)
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite+pysqlite://" + url.split("://", 1)[1]
    return url  # psycopg 3 serves both sync and async under the same dialect name


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
