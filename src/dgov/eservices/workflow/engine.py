"""The engine's shared parts: SpiffWorkflow's script engine and serializer, and the workflows this process
saved last (so the next step on an instance need not deserialise it again)."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import Any, cast

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from dgov.eservices.workflow_models import WorkflowInstance
from dgov.kernel.logging import guard_library_loggers

log = logging.getLogger(__name__)
# SpiffWorkflow puts each task's whole data (the dossier form) on its step records: kept out of logs.
guard_library_loggers()


class _Environment(TaskDataEnvironment):  # type: ignore[misc]
    """Handlers already ran (see `_run_steps`) and put their result into the task's data; the engine's
    own call is then a formality."""

    def call_service(self, _context: Any, **_kwargs: Any) -> str:
        return "{}"


ENGINE = PythonScriptEngine(environment=_Environment())
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


# Workflows this process saved last, with the exact state text they were saved as: the next step on the
# same instance skips deserialising when the database still holds that text (a rolled-back save leaves a
# different text there, so a stale object is never used). A step takes its object out (it mutates it).
_recent: OrderedDict[uuid.UUID, tuple[str, BpmnWorkflow]] = OrderedDict()
_RECENT_MAX = 256


def load(inst: WorkflowInstance, *, mutate: bool = True) -> BpmnWorkflow:
    cached = _recent.pop(inst.id, None) if mutate else _recent.get(inst.id)
    if cached is not None and cached[0] == inst.state:
        return cached[1]
    wf = cast(BpmnWorkflow, SERIALIZER.deserialize_json(inst.state))
    wf.script_engine = ENGINE
    return wf


def _remember(inst: WorkflowInstance, wf: BpmnWorkflow) -> None:
    _recent[inst.id] = (inst.state, wf)
    _recent.move_to_end(inst.id)
    while len(_recent) > _RECENT_MAX:
        _recent.popitem(last=False)
