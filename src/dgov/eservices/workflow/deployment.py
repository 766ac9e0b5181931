"""Process definitions: BPMN documents checked, deployed as numbered versions, and looked up."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from sqlalchemy import select

from dgov.eservices import tasks
from dgov.eservices.workflow_models import ProcessDefinition
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import NotFound, ValidationFailed
from dgov.kernel.uow import UnitOfWork

# The BPMN files live in dgov/eservices/bpmn, next to this package (not inside it).
BPMN_DIR = Path(__file__).parent.parent / "bpmn"

# --- process definitions ---------------------------------------------------------------------------------


def parse(name: str, source: str) -> Any:
    """The executable spec of process `name` in a BPMN document; a clear error if it is not one."""
    parser = SpiffBpmnParser()
    try:
        root = etree.fromstring(source.encode("utf-8"))
        parser.add_bpmn_xml(etree.ElementTree(root), filename=f"{name}.bpmn")
        spec = parser.get_spec(name)
    except (etree.XMLSyntaxError, ValidationException, KeyError, ValueError) as exc:
        raise ValidationFailed(
            "The BPMN file {name} is not a valid executable process: {error}",
            params={"name": name, "error": str(exc)[:300]},
        ) from exc
    for ts in spec.task_specs.values():
        if isinstance(ts, ServiceTask) and tasks.handler(ts.operation_name) is None:
            raise ValidationFailed(
                "The BPMN file {name} calls an unknown service task {operator}",
                params={"name": name, "operator": ts.operation_name},
            )
    return spec


@lru_cache(maxsize=64)
def _spec(name: str, source: str) -> Any:
    return parse(name, source)


def repo_files(directory: Path = BPMN_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(directory.glob("*.bpmn"))}


@dataclass(frozen=True)
class Deployed:
    name: str
    version: int
    sha256: str
    new: bool


async def deploy(uow: UnitOfWork, name: str, source: str, *, actor: str) -> Deployed:
    """Record `source` as the newest version of process `name` (the same content again is not a new
    version). Only the operator's command line calls this: users never upload BPMN."""
    parse(name, source)
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    latest = await latest_definition(uow, name)
    if latest is not None and latest.sha256 == digest:
        return Deployed(name, latest.version, digest, False)
    version = (latest.version if latest else 0) + 1
    uow.session.add(
        ProcessDefinition(
            name=name,
            version=version,
            sha256=digest,
            source=source,
            deployed_at=clock.now(),
            deployed_by=actor,
        )
    )
    uow.audit(
        AuditEntry(
            actor=actor,
            action="eservices.process_deployed",
            object_type="bpmn_process",
            object_id=f"{name}:{version}",
            details={"sha256": digest},
        )
    )
    await uow.flush()
    return Deployed(name, version, digest, True)


async def deploy_repo(uow: UnitOfWork, *, actor: str, names: Iterable[str] | None = None) -> list[Deployed]:
    files = repo_files()
    wanted = list(names) if names else list(files)
    unknown = [n for n in wanted if n not in files]
    if unknown:
        raise NotFound("No BPMN file named {name}", params={"name": ", ".join(unknown)})
    return [await deploy(uow, n, files[n].read_text(encoding="utf-8"), actor=actor) for n in wanted]


async def latest_definition(uow: UnitOfWork, name: str) -> ProcessDefinition | None:
    return cast(
        ProcessDefinition | None,
        await uow.session.scalar(
            select(ProcessDefinition)
            .where(ProcessDefinition.name == name)
            .order_by(ProcessDefinition.version.desc())
            .limit(1)
        ),
    )


async def definitions(uow: UnitOfWork) -> list[ProcessDefinition]:
    return list(
        await uow.session.scalars(
            select(ProcessDefinition).order_by(ProcessDefinition.name, ProcessDefinition.version)
        )
    )
