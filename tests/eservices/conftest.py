"""Fixtures for eservices: the demo families in the registries, and applicants acting as them."""

from __future__ import annotations

import pytest
from eskit import AN_ACCOUNT, BINH_ACCOUNT, CUONG_ACCOUNT, citizen, official

from dgov.eservices import workflow
from dgov.eservices.dossiers_citizen import Applicant
from dgov.exchange.demo import load as load_exchange
from dgov.identity import Principal
from dgov.kernel.uow import Database
from dgov.registries.demo import AN, BINH, CUONG, load_families
from dgov.web.runtime import Runtime


@pytest.fixture
async def families(db: Database) -> Database:
    await load_families(db)
    return db


@pytest.fixture
def an() -> Applicant:
    return Applicant(citizen(AN_ACCOUNT), AN, "Nguyễn Văn An")


@pytest.fixture
def binh() -> Applicant:
    return Applicant(citizen(BINH_ACCOUNT), BINH, "Trần Thị Bình")


@pytest.fixture
def cuong() -> Applicant:
    return Applicant(citizen(CUONG_ACCOUNT), CUONG, "Lê Văn Cường")


@pytest.fixture
def one_stop() -> Principal:
    return official("UBND-00004", "one_stop_officer", "00004")


@pytest.fixture
def civil_status_officer() -> Principal:
    return official("BTP", "civil_status_officer", "00004")


@pytest.fixture
async def rt(runtime: Runtime) -> Runtime:
    """A node with the demo families in the registries, the exchange's members and rights (the one-stop
    centre may read population, residence and health insurance) and the BPMN processes deployed."""
    await load_families(runtime.db)
    await load_exchange(runtime)
    async with runtime.db.uow() as uow:
        await workflow.deploy_repo(uow, actor="system:test")
        await uow.commit()
    return runtime
