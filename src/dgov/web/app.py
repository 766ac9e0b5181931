"""The application factory: `uvicorn --factory dgov.web.app:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dgov import __version__
from dgov.domains import domain_modules
from dgov.kernel.config import Settings, get_settings
from dgov.kernel.files import private_umask
from dgov.kernel.keys import ensure_secret
from dgov.web import errors, ops, pages
from dgov.web.limits import RequestLimitsMiddleware
from dgov.web.middleware import (
    CSRFMiddleware,
    LocaleMiddleware,
    ObservabilityMiddleware,
    SecurityHeadersMiddleware,
)
from dgov.web.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        private_umask()  # also when started by uvicorn directly rather than `dgov serve`
        rt = runtime or Runtime.build(settings)
        app.state.runtime = rt
        if settings.outbox_in_process:
            rt.start_background()
        try:
            yield
        finally:
            await rt.close()

    app = FastAPI(
        title="dgov",
        version=__version__,
        summary="Digital government platform API",
        lifespan=lifespan,
        docs_url=None,  # served by ops.py from local assets: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    if runtime is not None:
        app.state.runtime = runtime

    errors.install(app)
    static_dir = resources.files("dgov.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")
    app.include_router(ops.router)
    app.include_router(pages.router)
    domain_modules("events")  # importing a domain's events module subscribes its outbox consumers
    for _name, module in domain_modules("api") + domain_modules("pages"):
        app.include_router(module.router)

    secret = (
        settings.secret_key.get_secret_value() if settings.secret_key else ensure_secret(settings.keys_dir)
    )
    # Added innermost first: observability must sit inside CSRF (see CSRFMiddleware).
    app.add_middleware(errors.UnhandledErrorMiddleware)
    app.add_middleware(ObservabilityMiddleware)
    app.add_middleware(CSRFMiddleware, secret=secret, https=settings.https, on_failure=errors.csrf_failed)
    # Outside CSRF (which reads form bodies) so an oversized body is refused before anyone reads it.
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body=settings.request_max_body_bytes,
        max_multipart=settings.request_max_multipart_bytes,
        body_timeout=settings.request_body_timeout_seconds,
        respond=errors.limit_problem,
    )
    app.add_middleware(LocaleMiddleware, default=settings.default_locale)
    app.add_middleware(SecurityHeadersMiddleware, https=settings.https)
    return app
