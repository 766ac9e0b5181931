"""Operational endpoints: liveness, readiness, metrics, the OpenAPI docs and vendored front-end assets."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from dgov.kernel import migrate
from dgov.kernel.errors import NotFound, ServiceUnavailable
from dgov.web.deps import RuntimeDep
from dgov.web.templating import render

router = APIRouter(include_in_schema=False)

# Files the pages may load, from packages `npm ci` installed; nothing else under node_modules is served.
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@lru_cache(maxsize=4)
def _head(url: str) -> str | None:
    return migrate.head_revision(url)


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    try:
        async with runtime.db.uow(readonly=True) as uow:
            await uow.session.execute(text("SELECT 1"))
            conn = await uow.session.connection()
            current = await conn.run_sync(migrate.current_revision)
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable") from exc
    head = _head(runtime.settings.db_url)
    if current != head:
        raise ServiceUnavailable(
            "The database schema is at {current}, not at {head}; run `dgov migrate`",
            params={"current": current or "none", "head": head or "none"},
        )
    try:
        # Reachable is not enough: a full disk or a read-only file still answers SELECT. Rewrite one row
        # with its own value and commit — a real, durable write that changes nothing.
        async with runtime.db.uow() as uow:
            await uow.session.execute(text("UPDATE alembic_version SET version_num = version_num"))
            await uow.commit()
    except Exception as exc:
        raise ServiceUnavailable("The database cannot save changes (disk full or read-only?)") from exc
    return JSONResponse({"status": "ready", "database": "ok", "migrations": current})


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    mp_dir = runtime.settings.metrics_multiproc_dir
    if mp_dir is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(mp_dir))  # type: ignore[no-untyped-call]
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, media_type=CONTENT_TYPE_LATEST)


@router.get("/docs")
async def docs(request: Request) -> Response:
    return render(request, "docs.html")


@router.get("/vendor/{name}")
async def vendor(name: str, runtime: RuntimeDep) -> FileResponse:
    rel = VENDOR_FILES.get(name)
    path = Path(runtime.settings.assets_dir) / rel if rel else None
    if path is None or not path.is_file():
        raise NotFound("No such asset")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
