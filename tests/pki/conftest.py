"""Fixtures for the PKI tests."""

from __future__ import annotations

import pytest

from dgov.kernel.config import Settings
from dgov.kernel.uow import Database
from dgov.pki import init_pki


@pytest.fixture
async def pki(settings: Settings, db: Database) -> Database:
    await init_pki(settings, db)
    return db
