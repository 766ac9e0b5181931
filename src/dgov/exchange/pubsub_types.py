"""The event types every node knows: life events from the civil status and residence registries.

They are data (name, owning member, JSON Schema, description) and live in `exchange_event_types`; these
definitions are written there the first time a node needs them, and operators may add others. Each
payload carries `province_code`/`commune_code` of the registering authority so that a subscriber can
filter by area, and the data subject's ID number so that it can match its own records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ID_NUMBER = {"type": "string", "pattern": "^[0-9]{12}$"}
DATE = {"type": "string", "format": "date"}
PROVINCE = {"type": "string", "pattern": "^[0-9]{2}$"}
COMMUNE = {"type": "string", "pattern": "^[0-9]{5}$"}
TEXT = {"type": "string", "maxLength": 300}
REG_NUMBER = {"type": "string", "maxLength": 40}


@dataclass(frozen=True)
class EventTypeDef:
    name: str
    owner: str
    schema: dict[str, Any]
    description: dict[str, str]


def _schema(title: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "required": required,
        "properties": props,
        # Producers may add attributes later without breaking subscribers that validate strictly.
        "additionalProperties": True,
    }


BUILTIN: tuple[EventTypeDef, ...] = (
    EventTypeDef(
        name="person.born",
        owner="GOV/BTP",
        schema=_schema(
            "person.born",
            ["id_number", "full_name", "birth_date"],
            {
                "id_number": ID_NUMBER,
                "full_name": TEXT,
                "birth_date": DATE,
                "sex": {"enum": ["M", "F"]},
                "registration_number": REG_NUMBER,
                "registration_date": DATE,
                "father_id_number": ID_NUMBER,
                "mother_id_number": ID_NUMBER,
                "province_code": PROVINCE,
                "commune_code": COMMUNE,
            },
        ),
        description={
            "vi": "Một trẻ em được đăng ký khai sinh và cấp số định danh cá nhân.",
            "en": "A child's birth was registered and a personal ID number issued.",
        },
    ),
    EventTypeDef(
        name="person.died",
        owner="GOV/BTP",
        schema=_schema(
            "person.died",
            ["id_number", "death_date"],
            {
                "id_number": ID_NUMBER,
                "full_name": TEXT,
                "death_date": DATE,
                "registration_number": REG_NUMBER,
                "registration_date": DATE,
                "province_code": PROVINCE,
                "commune_code": COMMUNE,
            },
        ),
        description={
            "vi": "Một người đã được đăng ký khai tử.",
            "en": "A person's death was registered.",
        },
    ),
    EventTypeDef(
        name="marriage.registered",
        owner="GOV/BTP",
        schema=_schema(
            "marriage.registered",
            ["id_number", "marriage_date"],
            {
                "id_number": ID_NUMBER,
                "full_name": TEXT,
                "spouse_id_number": ID_NUMBER,
                "spouse_full_name": TEXT,
                "marriage_date": DATE,
                "registration_number": REG_NUMBER,
                "province_code": PROVINCE,
                "commune_code": COMMUNE,
            },
        ),
        description={
            "vi": "Một cuộc kết hôn đã được đăng ký (một sự kiện cho mỗi bên, như sổ hộ tịch).",
            "en": "A marriage was registered (one event per spouse, as in the civil status book).",
        },
    ),
    EventTypeDef(
        name="residence.changed",
        owner="GOV/BCA",
        schema=_schema(
            "residence.changed",
            ["household_id", "change"],
            {
                "household_id": {"type": "string", "maxLength": 40},
                "change": {"enum": ["created", "updated", "deleted"]},
                "residence_type": {"enum": ["permanent", "temporary"]},
                "status": {"type": "string", "maxLength": 20},
                "head_id_number": ID_NUMBER,
                "member_id_numbers": {"type": "array", "items": ID_NUMBER},
                "province_code": PROVINCE,
                "commune_code": COMMUNE,
            },
        ),
        description={
            "vi": "Thông tin cư trú của một hộ thay đổi (đăng ký, chuyển đi, đổi thành viên).",
            "en": "A household's residence changed (registered, moved, members changed).",
        },
    ),
)

BUILTIN_BY_NAME = {d.name: d for d in BUILTIN}
