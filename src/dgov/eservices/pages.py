"""The online services' pages: the citizens' (catalogue and forms, their dossiers) and the officials'
back office, each in its own module; this one mounts them and serves the domain's stylesheet."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import Response

from dgov.eservices import backoffice_pages, pages_catalogue, pages_declarations, pages_dossiers
from dgov.web.templating import add_template_package

router = APIRouter(include_in_schema=False)
add_template_package("dgov.eservices")


@router.get("/eservices-assets/eservices.css")
async def stylesheet() -> Response:
    css = (files("dgov.eservices") / "assets" / "eservices.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


router.include_router(pages_catalogue.router)
router.include_router(pages_dossiers.router)
router.include_router(pages_declarations.router)
# The officials' back office (same domain, its own module).
router.include_router(backoffice_pages.router)
