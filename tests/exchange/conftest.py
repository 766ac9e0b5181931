"""Exchange fixtures: the demo directory on the test database, Nguyễn Văn An in the population
registry, and an external agency application (its own key, not held by the node)."""

from __future__ import annotations

import pytest
from exkit import App, external_app, person

from dgov.exchange import demo as exchange_demo
from dgov.identity import SYSTEM
from dgov.kernel.config import Settings
from dgov.registries import RegistriesContext, create_record
from dgov.web.runtime import Runtime


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The node's public base URL is the test client's: signatures name it in `@target-uri`."""
    return settings.model_copy(update={"public_url": "http://testserver"})


@pytest.fixture
async def xrt(runtime: Runtime) -> Runtime:
    await exchange_demo.load(runtime)
    await create_record(RegistriesContext(db=runtime.db), SYSTEM, "population", person())
    return runtime


@pytest.fixture
async def app_ed(xrt: Runtime) -> App:
    return await external_app(xrt, "APP-ED")


@pytest.fixture
async def app_p256(xrt: Runtime) -> App:
    return await external_app(xrt, "APP-P256", p256=True)
