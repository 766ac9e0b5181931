"""Every procedure of the catalogue can be submitted and processed through its own BPMN process: the
work items go to the agency, role and commune the process names, and the officials' actions carry the
dossier to its result."""

from __future__ import annotations

import pytest
from test_workflow import AN_ACCOUNT, _deploy, _items, _status, citizen, official

from dgov.eservices import procedures, worklist
from dgov.eservices.workflow_demo import AN, direct_submit
from dgov.kernel.uow import Database
from dgov.web.runtime import Runtime

SINGLE = sorted(pid for pid, p in procedures().items() if not p.branches)


def test_the_catalogue_has_the_twelve_procedures_of_the_issue() -> None:
    assert len(SINGLE) >= 11 and len(procedures()) >= 12


@pytest.mark.parametrize("procedure_id", SINGLE)
async def test_a_procedure_is_processed_to_its_result(
    runtime: Runtime, families: Database, procedure_id: str
) -> None:
    db = runtime.db
    proc = procedures()[procedure_id]
    await _deploy(db, proc.process.removesuffix(".bpmn"))
    form = {
        "_route": {"commune_code": "00004", "province_code": "01"},
        "applicant": {"id_number": AN, "full_name": "Nguyễn Văn An"},
    }
    d = await direct_submit(runtime, citizen(AN_ACCOUNT), AN, "Nguyễn Văn An", procedure_id, form)
    seen: list[tuple[str, str]] = []
    for _ in range(10):  # a process of this catalogue has at most a few review steps
        open_items = [w for w in await _items(db, d.id) if w.status == "open"]
        if not open_items:
            break
        w = open_items[0]
        # The commune's one-stop desk is the agency "UBND-<commune>" for a process lane named UBND.
        agency = f"{w.agency}-{w.unit}" if w.agency == "UBND" else w.agency
        actor = official(agency, w.role, w.unit)
        assert w.id in [q.id for q in await worklist.queue(db, actor)]
        action = "receive" if "receive" in w.actions.split(",") else "approve"
        await worklist.act(db, runtime, actor, w.id, action)
        seen.append((w.agency, w.task_name))
    assert seen, "the process made no work item"
    assert await _status(db, d.id) == "result_issued", seen
