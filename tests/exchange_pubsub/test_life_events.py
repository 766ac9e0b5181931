"""The registries' `registries.record_changed` outbox events become life events on the stream and reach
subscribers through the same outbox dispatcher."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pubsub_support import Receiver, drain
from sqlalchemy import select

from dgov.exchange import pubsub
from dgov.exchange import pubsub_subscriptions as subscriptions
from dgov.exchange.events import RECORD_CHANGED, life_event
from dgov.exchange.pubsub_models import events_t
from dgov.identity import Principal
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database

OPERATOR = Principal(kind="operator", account_id=uuid.uuid4(), level=2)
BOOKS = {"birth": "KS", "death": "KT", "marriage": "KH"}
AUTHORITY = {"name": "UBND phường Ba Đình", "commune_code": "00004", "province_code": "01"}


def civil(event_type: str, **data: Any) -> dict[str, Any]:
    record = {
        "registration_number": f"00004-2026-{BOOKS[event_type]}-000001",
        "event_type": event_type,
        "authority": AUTHORITY,
        "status": "valid",
        "registration_date": "2026-11-20",
        **data,
    }
    return {
        "registry": "civil_status",
        "key": record["registration_number"],
        "version": 1,
        "subject_id": data.get("id_number"),
        "change": "created",
        "fields": sorted(record),
        "dossier_code": "H01.01-261120-0001",
        "legal_basis": "Law on Civil Status 60/2014/QH13",
        "data": record,
    }


def test_a_birth_registration_is_person_born() -> None:
    found = life_event(
        civil(
            "birth",
            id_number="001226000123",
            full_name="Nguyễn Gia Bảo",
            birth_date="2026-11-18",
            sex="M",
            father_id_number="001090012345",
            mother_id_number="001192034567",
            ethnicity="Kinh",
        )
    )
    assert found is not None
    kind, payload, subject = found
    assert kind == "person.born" and subject == "001226000123"
    assert payload == {
        "id_number": "001226000123",
        "full_name": "Nguyễn Gia Bảo",
        "birth_date": "2026-11-18",
        "sex": "M",
        "registration_number": "00004-2026-KS-000001",
        "registration_date": "2026-11-20",
        "father_id_number": "001090012345",
        "mother_id_number": "001192034567",
        "province_code": "01",
        "commune_code": "00004",
    }  # ethnicity (sensitive) is not carried


def test_death_marriage_and_residence() -> None:
    died = life_event(
        civil("death", id_number="079085001234", full_name="Trần Văn Cường", event_date="2026-10-01")
    )
    assert died is not None and died[0] == "person.died" and died[1]["death_date"] == "2026-10-01"
    married = life_event(
        civil("marriage", id_number="001090012345", spouse_id_number="001192034567", event_date="2015-04-30")
    )
    assert married is not None and married[0] == "marriage.registered"
    assert married[1]["spouse_id_number"] == "001192034567" and married[1]["marriage_date"] == "2015-04-30"
    moved = life_event(
        {
            "registry": "residence",
            "key": "HH-0001",
            "change": "updated",
            "data": {
                "household_id": "HH-0001",
                "residence_type": "permanent",
                "head_id_number": "001090012345",
                "address": {"street": "1 Phố Huế", "commune_code": "00004", "province_code": "01"},
                "members": [
                    {"id_number": "001090012345", "relationship_to_head": "head"},
                    {"id_number": "001216012345", "relationship_to_head": "child"},
                ],
                "status": "active",
            },
        }
    )
    assert moved is not None and moved[0] == "residence.changed"
    assert moved[1]["member_id_numbers"] == ["001090012345", "001216012345"]
    assert moved[1]["change"] == "updated" and moved[1]["province_code"] == "01"
    # Not life events: a divorce, a correction, another registry.
    assert life_event(civil("birth", id_number="001226000123") | {"change": "updated"}) is None
    assert life_event({"registry": "health_insurance", "change": "created", "data": {}}) is None


async def test_a_registry_birth_reaches_a_subscriber(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    await subscriptions.add_subscription(
        db,
        OPERATOR,
        member="GOV/BHXH",
        subsystem="BHYT",
        event_type="person.born",
        url=receiver.url,
        filters={"commune_code": "00004"},
    )
    change = civil("birth", id_number="001226000123", full_name="Nguyễn Gia Bảo", birth_date="2026-11-18")
    async with db.uow() as uow:
        uow.publish(RECORD_CHANGED, change, key="001226000123")
        await uow.commit()
    await drain(dispatcher)

    async with db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(select(events_t).where(events_t.c.subject == "001226000123"))).all()
    assert [(r.type, r.payload["registration_number"]) for r in rows] == [
        ("person.born", "00004-2026-KS-000001")
    ]
    assert [json.loads(g.body)["id"] for g in receiver.got] == [str(rows[0].id)]


async def test_a_birth_published_twice_reaches_subscribers_once(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    """The online service publishes person.born when it approves the birth bundle, and the civil status
    record it created reaches the stream through the registries: subscribers hear of the birth once."""
    await subscriptions.add_subscription(
        db, OPERATOR, member="GOV/BHXH", subsystem="BHYT", event_type="person.born", url=receiver.url
    )
    data = {"id_number": "001226000124", "full_name": "Trần Bảo Ngọc", "birth_date": "2026-11-19"}
    async with db.uow() as uow:
        first = await pubsub.publish_event(uow, "person.born", data, subject_id="001226000124")
        uow.publish(RECORD_CHANGED, civil("birth", **data), key="001226000124")
        await uow.commit()
    await drain(dispatcher)
    async with db.uow() as uow:
        again = await pubsub.publish_event(uow, "person.born", data, subject_id="001226000124")
        await uow.commit()
    assert first.new and not again.new and again.id == first.id
    await drain(dispatcher)
    assert [json.loads(g.body)["id"] for g in receiver.got] == [str(first.id)]
