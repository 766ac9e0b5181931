"""Fixtures for the documents tests: a documents context on a node whose PKI is initialised."""

from __future__ import annotations

import pytest

from dgov.documents import DocumentsContext, documents_context
from dgov.kernel.config import Settings
from dgov.kernel.uow import Database
from dgov.pki import init_pki


@pytest.fixture
async def docs(settings: Settings, db: Database) -> DocumentsContext:
    await init_pki(settings, db)
    return documents_context(settings, db)
