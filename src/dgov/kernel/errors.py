"""Domain errors. Services raise these; the web layer turns them into RFC 9457 problem details
(API) or translated error pages (HTML). Messages are English msgids translated through the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One bad field: `loc` is the field path (e.g. ("child", "given_name")) or a row/field pair."""

    loc: tuple[str | int, ...]
    message: str
    params: dict[str, Any] = field(default_factory=dict)


class DomainError(Exception):
    """Base of every error a use case may raise on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "The request cannot be processed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        params: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []
        self.params = params or {}
        self.extra = extra or {}


class ValidationFailed(DomainError):
    status = 422
    code = "validation-failed"
    title = "Some fields are not valid"


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = "Not found"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    title = "You need to log in"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "You are not allowed to do this"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "The request conflicts with the current state"


class TooManyRequests(DomainError):
    status = 429
    code = "too-many-requests"
    title = "Too many attempts; please wait and try again"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service-unavailable"
    title = "The service is temporarily unavailable"
