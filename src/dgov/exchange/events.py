"""The exchange's outbox consumers (imported by the web app and `dgov outbox run`, which subscribes them).

- `exchange.life-events`: turns the registries' `registries.record_changed` into life events
  (person.born, person.died, marriage.registered, residence.changed) on this node's event stream;
- `exchange.webhooks` / `exchange.webhooks.retry`: signed webhook deliveries (webhooks.py);
- `exchange.bus`: the copy of each event on NATS JetStream when `DGOV_EVENT_BUS_URL` is set (bus.py).
"""

from __future__ import annotations

from typing import Any

from dgov.exchange import bus, webhooks
from dgov.exchange.pubsub import EVENT_TOPIC, RETRY_TOPIC, publish_event
from dgov.kernel.config import get_settings
from dgov.kernel.outbox import Message, subscribe
from dgov.kernel.uow import UnitOfWork

RECORD_CHANGED = "registries.record_changed"


def _get(data: dict[str, Any], path: str) -> Any:
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _pick(data: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Payload attribute → path in the record; attributes the record lacks are left out."""
    out = {}
    for attr, path in mapping.items():
        value = _get(data, path)
        if value not in (None, ""):
            out[attr] = value
    return out


AREA = {"province_code": "authority.province_code", "commune_code": "authority.commune_code"}


def life_event(change: dict[str, Any]) -> tuple[str, dict[str, Any], str | None] | None:
    """The life event a registry change stands for, as (type, payload, subject), or None."""
    registry, kind = change.get("registry"), change.get("change")
    data = change.get("data")
    if not isinstance(data, dict):
        return None
    if registry == "civil_status" and kind == "created" and data.get("status", "valid") == "valid":
        event = data.get("event_type")
        if event == "birth":
            payload = _pick(
                data,
                {
                    "id_number": "id_number",
                    "full_name": "full_name",
                    "birth_date": "birth_date",
                    "sex": "sex",
                    "registration_number": "registration_number",
                    "registration_date": "registration_date",
                    "father_id_number": "father_id_number",
                    "mother_id_number": "mother_id_number",
                    **AREA,
                },
            )
            return "person.born", payload, payload.get("id_number")
        if event == "death":
            payload = _pick(
                data,
                {
                    "id_number": "id_number",
                    "full_name": "full_name",
                    "death_date": "event_date",
                    "registration_number": "registration_number",
                    "registration_date": "registration_date",
                    **AREA,
                },
            )
            return "person.died", payload, payload.get("id_number")
        if event == "marriage":
            payload = _pick(
                data,
                {
                    "id_number": "id_number",
                    "full_name": "full_name",
                    "spouse_id_number": "spouse_id_number",
                    "spouse_full_name": "spouse_full_name",
                    "marriage_date": "event_date",
                    "registration_number": "registration_number",
                    **AREA,
                },
            )
            return "marriage.registered", payload, payload.get("id_number")
        return None
    if registry == "residence":
        payload = _pick(
            data,
            {
                "household_id": "household_id",
                "residence_type": "residence_type",
                "status": "status",
                "head_id_number": "head_id_number",
                "province_code": "address.province_code",
                "commune_code": "address.commune_code",
            },
        )
        payload.setdefault("household_id", change.get("key"))
        payload["change"] = kind
        members = data.get("members")
        if isinstance(members, list):
            payload["member_id_numbers"] = [
                m["id_number"] for m in members if isinstance(m, dict) and isinstance(m.get("id_number"), str)
            ]
        return "residence.changed", payload, payload.get("head_id_number")
    return None


@subscribe(RECORD_CHANGED, "exchange.life-events")
async def on_record_changed(uow: UnitOfWork, message: Message) -> None:
    found = life_event(message.payload)
    if found is None:
        return
    event_type, payload, subject = found
    s = get_settings()
    await publish_event(
        uow, event_type, payload, subject_id=subject, instance=s.exchange_instance, node=s.node_name
    )


@subscribe(EVENT_TOPIC, "exchange.webhooks")
async def on_event(uow: UnitOfWork, message: Message) -> None:
    await webhooks.deliver(uow, message)


@subscribe(RETRY_TOPIC, "exchange.webhooks.retry")
async def on_retry(uow: UnitOfWork, message: Message) -> None:
    await webhooks.deliver(uow, message)


@subscribe(EVENT_TOPIC, "exchange.bus")
async def on_event_bus(_uow: UnitOfWork, message: Message) -> None:
    await bus.forward(message.payload["event"])
