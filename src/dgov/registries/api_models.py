"""The data API's bodies and envelopes (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dgov.registries.engine import RecordView

TAG = "Registry data (GovStack Digital Registries)"
USAGE_TAG = "My personal data usage"


class Problem(BaseModel):
    """RFC 9457 problem details (`errors` lists bad fields: `loc` and a translated `message`)."""

    type: str
    title: str
    status: int
    instance: str | None = None
    detail: str | None = None
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


PROBLEM = {"application/problem+json": {"schema": Problem.model_json_schema()}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No access token, or one that is unknown, expired or revoked", "content": PROBLEM},
    403: {"description": "The token does not carry the scope this registry needs", "content": PROBLEM},
    404: {"description": "No such registry, version, record or field", "content": PROBLEM},
    422: {"description": "Invalid parameters or data (field by field)", "content": PROBLEM},
}


class RecordMeta(BaseModel):
    registry: str
    key: str = Field(description="The record's key (for the population registry, the personal ID number)")
    version: int = Field(description="Record version; every change adds one, none is overwritten")
    schema_version: int
    deleted: bool
    valid_from: datetime
    valid_to: datetime | None = Field(None, description="Set when an older version is read (as_of)")
    changed_by: str
    reason: str | None
    legal_basis: str | None
    dossier_code: str | None


class RecordOut(BaseModel):
    content: dict[str, Any] = Field(
        description="The record's data, as the registry's JSON Schema describes it"
    )
    meta: RecordMeta


class RecordPage(BaseModel):
    """GovStack's list envelope. `count` is the number of results on this page; `next` is set when the
    page is full (the next one may be empty)."""

    count: int
    next: str | None
    previous: str | None
    results: list[RecordOut]


class Answer(BaseModel):
    status: bool
    message: str


class ExistsOut(BaseModel):
    answer: Answer


class Content(BaseModel):
    content: dict[str, Any]


class RecordQuery(BaseModel):
    """Which record: its `key`, or GovStack's `content` holding the registry's key field."""

    key: str | None = None
    content: dict[str, Any] | None = None


class Write(BaseModel):
    """The data: GovStack's `{"content": {…}}`, or the fields directly."""

    model_config = ConfigDict(extra="allow", title="RecordWrite")
    content: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        return dict(self.content) if self.content is not None else dict(self.model_extra or {})


class CreateBody(BaseModel):
    write: Write


class QueryBody(BaseModel):
    query: RecordQuery


class UpdateBody(BaseModel):
    query: RecordQuery | None = None
    write: Write


class ValueOut(BaseModel):
    value: Any


class Reference(BaseModel):
    ReferenceID: str = Field(description="The record read (its key)")
    Registry: str


class PersonalDataUsage(BaseModel):
    """One read of the person's data. Keys follow the GovStack template (including its spelling of
    `Refrences`); dgov adds the fields read, the purpose, the legal basis and the channel."""

    ID: str
    ReaderID: str = Field(description="Who read: client:<id> for a system, official:<id> for a person")
    ReaderKind: str = Field(description="official, client, agency or system")
    ReaderName: str
    ReaderApplicationName: str | None = None
    SearchDateTime: datetime
    Refrences: list[Reference]
    Fields: list[str]
    Purpose: str
    LegalBasis: str | None = None
    DossierCode: str | None = None
    Channel: str


def out(view: RecordView) -> RecordOut:
    return RecordOut(
        content=view.data,
        meta=RecordMeta(
            registry=view.registry,
            key=view.key,
            version=view.version,
            schema_version=view.schema_version,
            deleted=view.deleted,
            valid_from=view.valid_from,
            valid_to=view.valid_to,
            changed_by=view.changed_by,
            reason=view.reason,
            legal_basis=view.legal_basis,
            dossier_code=view.dossier_code,
        ),
    )
