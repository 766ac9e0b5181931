"""X-Road-style identifiers: INSTANCE/CLASS/MEMBER[/SUBSYSTEM[/SERVICE]]."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dgov.kernel.errors import FieldError, ValidationFailed

MEMBER_CLASSES = ("GOV", "COM", "ORG")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _bad(field: str, message: str = "This identifier is not in the expected format") -> ValidationFailed:
    return ValidationFailed(errors=[FieldError((field,), message)])


@dataclass(frozen=True)
class MemberId:
    instance: str
    member_class: str
    code: str

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.code}"


@dataclass(frozen=True)
class SubsystemId:
    member: MemberId
    code: str

    def __str__(self) -> str:
        return f"{self.member}/{self.code}"


@dataclass(frozen=True)
class ServiceId:
    subsystem: SubsystemId
    code: str

    def __str__(self) -> str:
        return f"{self.subsystem}/{self.code}"


def check_code(value: str, field: str) -> str:
    if not _CODE.fullmatch(value):
        raise _bad(field, "Use letters, digits, dot, dash or underscore (at most 50)")
    return value


def check_class(value: str, field: str = "class") -> str:
    if value not in MEMBER_CLASSES:
        raise _bad(field, "The member class must be GOV, COM or ORG")
    return value


def member_id(text: str, *, instance: str, field: str = "member") -> MemberId:
    """`GOV/CODE` (this instance) or `INSTANCE/GOV/CODE`."""
    parts = text.strip().split("/")
    if len(parts) == 2:
        parts = [instance, *parts]
    if len(parts) != 3:
        raise _bad(field)
    return MemberId(check_code(parts[0], field), check_class(parts[1], field), check_code(parts[2], field))


def subsystem_id(text: str, field: str = "client") -> SubsystemId:
    parts = text.strip().split("/")
    if len(parts) != 4:
        raise _bad(field)
    m = MemberId(check_code(parts[0], field), check_class(parts[1], field), check_code(parts[2], field))
    return SubsystemId(m, check_code(parts[3], field))


def service_id(text: str, field: str = "service") -> ServiceId:
    parts = text.strip().split("/")
    if len(parts) != 5 or not _SERVICE.fullmatch(parts[4]):
        raise _bad(field)
    return ServiceId(subsystem_id("/".join(parts[:4]), field), parts[4])
