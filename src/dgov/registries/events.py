"""Events the registries publish for other domains (the exchange maps them to person.born, person.died,
residence.changed, marriage.registered…).

`registries.record_changed` is queued in the unit of work that makes the change, so it is written in
the same transaction: a subscriber never hears of a change that was rolled back, and never misses one
that was committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from dgov.kernel.uow import UnitOfWork
from dgov.registries.engine import RecordView

TOPIC = "registries.record_changed"

# Registries whose new data travels in the event: the facts of a person's life that other agencies act
# on. The others (insurance, land, business…) say only what changed; a subscriber that needs their
# data reads it through the data API, where the read is logged.
WITH_DATA = frozenset({"population", "civil_status", "residence"})

Change = Literal["created", "updated", "deleted"]


def record_changed(view: RecordView, change: Change, fields: Iterable[str]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "registry": view.registry,
        "key": view.key,
        "version": view.version,
        "subject_id": view.subject_id,
        "change": change,
        "fields": sorted(fields),
        "dossier_code": view.dossier_code,
        "legal_basis": view.legal_basis,
    }
    if view.registry in WITH_DATA:
        payload["data"] = view.data
    return payload


def publish_change(uow: UnitOfWork, view: RecordView, change: Change, fields: Iterable[str]) -> None:
    uow.publish(TOPIC, record_changed(view, change, fields), key=view.subject_id or view.key)
