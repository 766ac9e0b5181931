"""Jinja2 with Babel's gettext; each domain adds its own `templates/` folder to the loader."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dgov import __version__
from dgov.kernel import i18n

_loaders: list[PackageLoader] = [PackageLoader("dgov.web", "templates")]


def add_template_package(package: str) -> None:
    """Called by a domain's pages module so `render` finds `templates/<domain>/…`."""
    if all(loader.package_name != package for loader in _loaders):
        _loaders.append(PackageLoader(package, "templates"))


env = Environment(
    loader=ChoiceLoader(_loaders),
    autoescape=select_autoescape(default=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
# Old-style callables: `_("Error {status}", status=s)` reaches kernel.i18n.gettext with its keyword
# arguments, which formats with str.format like Python code does (newstyle would apply `%` instead).
# The result is a plain str, so autoescaping still escapes the whole formatted message.
env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=False)  # type: ignore[attr-defined]
env.globals["version"] = __version__


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    csrf = request.scope.get("csrftoken")
    ctx = {
        "request": request,
        "lang": i18n.current_locale.get(),
        "csrf_token": csrf() if callable(csrf) else "",
        **(context or {}),
    }
    return HTMLResponse(env.get_template(template).render(ctx), status_code=status)


ContextProcessor = Callable[[Request], Awaitable[dict[str, Any]]]
_processors: list[ContextProcessor] = []


def add_context_processor(fn: ContextProcessor) -> None:
    """Domains add what every full page shows (e.g. identity: who is logged in)."""
    if fn not in _processors:
        _processors.append(fn)


async def page(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render a full page: the context processors' values first, the page's own on top."""
    merged: dict[str, Any] = {}
    for fn in _processors:
        merged.update(await fn(request))
    merged.update(context or {})
    return render(request, template, merged, status=status)
