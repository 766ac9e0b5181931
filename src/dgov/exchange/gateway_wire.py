"""What travels through the gateway: the request and response, the headers it reads, its refusals.

A request names its target as `/r1/{instance}/{class}/{member}/{subsystem}/{service}/{path…}` and its
caller in `Information-Mediator-Client` (or X-Road's `X-Road-Client`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from dgov.kernel.errors import DomainError

CLIENT_HEADER = "information-mediator-client"
XROAD_CLIENT_HEADER = "x-road-client"
PURPOSE, SUBJECT, DOSSIER = "x-dgov-purpose", "x-dgov-subject", "x-dgov-dossier"
# What a caller declares about the call (why, about whom, for which dossier): signed whenever sent, so
# nobody on the way can change the purpose a person's access log records.
DECLARED = (PURPOSE, SUBJECT, DOSSIER)
MESSAGE_ID = "x-dgov-message-id"


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


NOT_FOUND = N_("Not found")
UNAUTHENTICATED = N_("The request is not signed correctly")
FORBIDDEN = N_("You are not allowed to do this")


@dataclass
class CallContext:
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
        title=NOT_FOUND,
        method=method,
        path=path,
    )


def public_target_uri(base_url: str, raw_path: bytes, query_string: bytes = b"") -> str:
    """The URI a signature's `@target-uri` (and `@authority`) must name: this node's configured public
    base URL with the raw path and query as received. Never the Host header, which the caller chooses:
    a request signed for another node then fails here instead of being accepted."""
    return (
        base_url.rstrip("/")
        + raw_path.decode("latin-1")
        + (f"?{query_string.decode('latin-1')}" if query_string else "")
    )


def header_text(value: str) -> str:
    """Header values are Latin-1 on the wire: Vietnamese text travels percent-encoded UTF-8."""
    return unquote(value).strip()
