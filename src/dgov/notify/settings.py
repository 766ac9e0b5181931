"""Delivery settings (DGOV_SMTP_HOST, DGOV_SMTP_PORT, DGOV_SMTP_FROM, DGOV_SMTP_STARTTLS, DGOV_SMTP_USER,
DGOV_SMTP_PASSWORD, DGOV_SMS_PROVIDER). Without an SMTP host, email is only logged (embedded shape)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DGOV_", env_file=".env", extra="ignore")

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "dgov@localhost"
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    sms_provider: str = "log"
