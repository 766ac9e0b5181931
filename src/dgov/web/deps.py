"""FastAPI dependencies shared by every domain's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from dgov.kernel.uow import Database
from dgov.web.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The node's runtime; a plain function for code that has the request at hand."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_db(request: Request) -> Database:
    return get_runtime(request).db


# The dependencies are coroutines although they do no I/O: FastAPI runs a plain `def` dependency in
# the thread pool, a thread handoff on every request for a dictionary lookup.
async def runtime_dependency(request: Request) -> Runtime:
    return get_runtime(request)


async def db_dependency(request: Request) -> Database:
    return get_runtime(request).db


RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]
DatabaseDep = Annotated[Database, Depends(db_dependency)]
