"""The BPMN engine: SpiffWorkflow 3 executing the deployed process versions, its state in the database.

Every engine step runs inside the caller's unit of work, so the process state, the dossier's status,
work items, timers, audit records and outbox events commit together or not at all. Service tasks whose
handler writes through another domain's use cases (which commit on their own) cannot run inside that
transaction: the engine stops in front of them and marks the instance `pending`; `run_pending` (the
worker, `dgov eservices tick`, or the caller right after its commit) runs those handlers, records what
they did in `eservices_workflow_effects`, and applies the result in a new unit of work.
"""

from dgov.eservices.workflow.deployment import (
    Deployed,
    definitions,
    deploy,
    deploy_repo,
    latest_definition,
    repo_files,
)
from dgov.eservices.workflow.engine import load
from dgov.eservices.workflow.pending import pending_instances, run_pending
from dgov.eservices.workflow.running import (
    claim_instance,
    complete_user_task,
    fire_timer,
    instance_for,
    start,
)

__all__ = [
    "Deployed",
    "claim_instance",
    "complete_user_task",
    "definitions",
    "deploy",
    "deploy_repo",
    "fire_timer",
    "instance_for",
    "latest_definition",
    "load",
    "pending_instances",
    "repo_files",
    "run_pending",
    "start",
]
