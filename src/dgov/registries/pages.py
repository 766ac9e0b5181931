"""Registry pages. Officials: search (always with a purpose), a record with every field labelled, the
source of each value, its history with diffs, an "as of" date, and for a person the access log.
Citizens: "Dữ liệu của tôi", their data across registries and everyone who read it.

Every read by an official is written to the person's access log, so a read must be what the official
meant to do: searches are POSTed with the CSRF token, and a record link carries a ticket (an HMAC over
the official, the record and the purpose) made when the official stated the purpose on this site. A
link crafted elsewhere finds no valid ticket and asks for the purpose instead of reading.
"""

from __future__ import annotations

from fastapi import APIRouter

from dgov.registries import pages_my_data, pages_record, pages_search
from dgov.web.templating import add_template_package

router = APIRouter(include_in_schema=False)
add_template_package("dgov.registries")
router.include_router(pages_search.router)
router.include_router(pages_record.router)
router.include_router(pages_my_data.router)
