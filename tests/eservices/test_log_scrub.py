"""No personal data in logs: a whole birth journey (the parent's prefilled form, three agencies'
approvals, the service tasks writing four registries, the signed certificate) runs with every logger at
DEBUG, and nothing any logger emitted names the people involved: no name, birth date, address or ID
number of the parents or the child. Library loggers that dump task data (SpiffWorkflow's) included."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from dgov.eservices.workflow_demo import AN, AN_NAME, birth_journey, child_form
from dgov.kernel.logging import JsonFormatter
from dgov.pki.demo import load as load_pki
from dgov.registries.demo import BA_DINH, BINH
from dgov.web.runtime import Runtime

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def everything_at_debug() -> Iterator[Capture]:
    """Every logger that exists (and the root, for those made later) at DEBUG, captured raw."""
    capture = Capture()
    root = logging.getLogger()
    saved = {
        name: lg.level
        for name, lg in logging.root.manager.loggerDict.items()
        if isinstance(lg, logging.Logger)
    }
    saved_root = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _raw(record: logging.LogRecord) -> str:
    """Everything a handler could write: the message, every extra attribute, the exception."""
    extras = {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}
    exc = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
    return " ".join([record.getMessage(), repr(extras), exc])


async def test_a_birth_journey_logs_no_personal_data(rt: Runtime, everything_at_debug: Capture) -> None:
    await load_pki(rt)
    spiff = logging.getLogger("spiff.task")
    assert spiff.isEnabledFor(logging.DEBUG)  # the test really listens where the form used to leak
    out = await birth_journey(rt)
    assert out["status"] == "result_issued"
    child = child_form(0)["child"]
    child_name = f"{child['surname']} {child['middle_name']} {child['given_name']}"
    personal = {
        "names": [AN_NAME, "Trần Thị Bình", child_name, f"{child['middle_name']} {child['given_name']}"],
        "birth dates": ["1990-03-15", "1992-07-20", child["birth_date"]],
        "addresses": [BA_DINH["street"], child["birth_place"]],
    }
    ids = [AN, BINH, str(out["child_id_number"])]
    records = everything_at_debug.records
    assert len(records) > 20, "the journey logged nothing: the capture is not working"
    lines = [JsonFormatter().format(r) for r in records]
    raws = [_raw(r) for r in records]
    for kind, values in personal.items():
        for value in values:
            leaks = [line for line in raws + lines if value in line]
            assert not leaks, f"{kind}: {value!r} in {leaks[:3]}"
            # JSON lines escape nothing in Vietnamese (ensure_ascii=False), but check the escaped form too.
            escaped = json.dumps(value)[1:-1]
            assert not [line for line in lines if escaped in line], f"{kind}: {value!r}"
    # ID numbers: masked in every line that leaves the process, whoever logged them.
    for id_number in ids:
        assert not [line for line in lines if id_number in line], id_number
