"""The registries' data API, in the shape of GovStack's Digital Registries Data API.

Followed: the GovStack Digital Registries Building Block specification, chapter 8 "Service APIs"
(https://govstack.gitbook.io/bb-digital-registries/8-service-apis) and its OpenAPI template
`api/GovStack_Digital_registries_BB_Data_API_template-1.3.0.yaml` in
github.com/GovStackWorkingGroup/bb-digital-registries:

- paths `/data/{registry}/{version}/{method}`: `create`, `read`, `exists`, `update`, `updateOrCreate`,
  `{id}/delete`, `{id}/readValue/{field}.{ext}`, and `/data/myPersonalDataUsage`. The template's
  kebab-case spellings (`update-or-create`, `{id}/read-value/…`, `/data/MyPersonalDataUsage/1.0`) are
  accepted too (left out of the schema, same behaviour);
- bodies: `{"write": {"content": {…}}}` to create, `{"query": {"content": {…}}, "write": {"content": {…}}}`
  to update; `read` and `exists` also take GovStack's POST body `{"query": {"content": {key: …}}}`;
- envelopes: a record is `{"content": {…}}` (dgov adds `meta`: version, validity, provenance), a search
  is GovStack's list `{"count", "next", "previous", "results"}`, `exists` answers
  `{"answer": {"status", "message"}}`, `readValue` answers `{"value": …}` (json) or the bare value (txt),
  and the data-usage log uses the template's `PersonalDataUsage` keys (spelling included).

Where dgov differs, on purpose: callers authenticate with OAuth 2 bearer access tokens from dgov's own
OpenID provider (client credentials for agency systems) rather than GovStack's `Information-Mediator-Client`
header, and scopes `registry.<name>.read|write` decide; `read` is also a GET with query parameters
(searches by name, birth date or year and place, paginated); every read states its purpose
(`X-Dgov-Purpose`), which goes with the reader's name into the person's access log; versions are
integers (`1`, also written `1.0` or `v1`); errors are RFC 9457 problem details. Records are never
erased: `delete` writes a version marked deleted.
"""

from __future__ import annotations

from fastapi import APIRouter

from dgov.registries import api_read, api_usage, api_write

router = APIRouter(prefix="/data")
# In this order: reads, writes, then the person's own view (as the OpenAPI document lists them).
router.include_router(api_read.router)
router.include_router(api_write.router)
router.include_router(api_usage.router)
