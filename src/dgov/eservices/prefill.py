"""Once-only prefill: what the registries already know about the applicant and their family, read
through the exchange as the one-stop centre's subsystem, so each read is authorised, signed, logged in
the exchange's message log and written to the person's access log with the purpose and the dossier.

Only the fields a form needs are requested (data minimisation), plus the links that lead from the
applicant to the others (spouse, household).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dgov.eservices.catalogue import Procedure
from dgov.exchange import ONE_STOP, call_service, registry_service_address
from dgov.kernel import clock
from dgov.kernel.errors import ServiceUnavailable
from dgov.registries import commune_name, province_name

if TYPE_CHECKING:
    from dgov.web.runtime import Runtime

# The one-stop centre's subsystem on the exchange (X-Road style identifier, without the instance).
ONE_STOP_SUBSYSTEM = ONE_STOP

# Derived fields: computed here from the registry fields they need.
_DERIVED: dict[tuple[str, str], list[str]] = {
    ("population", "parent_role"): ["sex"],
    ("population", "address_text"): ["permanent_address"],
    ("residence", "address_text"): ["address"],
}
_LINKS = {"spouse": "spouse_id_number", "household": "household_id"}


@dataclass(frozen=True)
class Source:
    registry: str
    key: str
    agency: str
    changed_at: str
    mode: str

    def as_dict(self) -> dict[str, str]:
        return {
            "registry": self.registry,
            "key": self.key,
            "agency": self.agency,
            "changed_at": self.changed_at,
            "mode": self.mode,
        }


@dataclass
class Prefill:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # paths whose subject the registries do not know
    # Where the applicant lives: the unit whose officials handle the dossier.
    commune_code: str | None = None
    province_code: str | None = None

    def readonly_paths(self) -> set[str]:
        return {p for p, s in self.sources.items() if s.mode == "readonly"}


@dataclass(frozen=True)
class Read:
    registry: str
    key: str
    data: dict[str, Any]
    valid_from: datetime


async def exchange_read(
    rt: Runtime, *, registry: str, key: str, fields: list[str], purpose: str, reference: str
) -> Read | None:
    """The one adapter to the exchange: a registry read as the one-stop centre's subsystem, signed and
    logged by the gateway, with the purpose and the dossier it is for; None when there is no such record."""
    instance = rt.settings.exchange_instance
    resp = await call_service(
        rt,
        client=f"{instance}/{ONE_STOP_SUBSYSTEM}",
        service=registry_service_address(instance, registry),
        path=f"/records/{quote(key, safe='')}",
        purpose=purpose,
        dossier=reference,
        params={"fields": ",".join(sorted(set(fields)))},
    )
    if resp.status == 404:
        return None
    if not resp.ok:
        raise ServiceUnavailable(
            "The {registry} registry did not answer through the exchange", params={"registry": registry}
        )
    body = resp.json()
    return Read(registry, str(body["key"]), dict(body["data"]), datetime.fromisoformat(body["valid_from"]))


def address_text(addr: Any) -> str:
    if not isinstance(addr, dict):
        return ""
    today = clock.local_today()  # unit names as they stand in Vietnam today, not on the server's UTC date
    parts = [
        addr.get("street") or "",
        commune_name(str(addr.get("commune_code", "")), on=today) or str(addr.get("commune_code", "")),
        province_name(str(addr.get("province_code", "")), on=today) or str(addr.get("province_code", "")),
    ]
    return ", ".join(p for p in parts if p)


def _value(source: str, name: str, data: dict[str, Any]) -> Any:
    if name == "parent_role":
        return {"F": "mother", "M": "father"}.get(str(data.get("sex")))
    if name == "address_text":
        return address_text(data.get("permanent_address" if source == "population" else "address"))
    return data.get(name)


def _needed(proc: Procedure) -> dict[tuple[str, str], list[str]]:
    """(registry, subject) → registry fields to request."""
    out: dict[tuple[str, str], list[str]] = {}
    for rule in proc.prefill:
        want = _DERIVED.get((rule["source"], rule["field"]), [rule["field"]])
        out.setdefault((rule["source"], rule["subject"]), []).extend(want)
    out.pop(("population", "child"), None)  # the child is read once the parent has picked them
    subjects = {s for _, s in out}
    applicant = out.setdefault(("population", "applicant"), [])
    applicant.append("permanent_address")
    if subjects & {"spouse", "mother", "father"}:
        applicant += ["spouse_id_number", "sex"]
    if "household" in subjects:
        applicant.append("household_id")
    return out


def _subject_key(subject: str, mine: dict[str, Any], views: dict[str, Read | None]) -> Any:
    """The key under which another registry holds the form's `subject` (None: not known)."""
    if subject == "household":
        return mine.get("household_id")
    if subject in ("applicant", "mother", "father", "spouse"):
        person = views.get(subject)
        return person.key if person else None
    return None


async def collect(rt: Runtime, proc: Procedure, *, id_number: str, reference: str) -> Prefill:
    """Read what `proc`'s form can take from the registries about the citizen `id_number`."""
    purpose = _purpose(proc)
    needed = _needed(proc)
    views: dict[str, Read | None] = {}
    # Whether the applicant is the mother or the father is known only once read: ask for both roles' fields.
    family = [
        f
        for (r, s), fs in needed.items()
        if r == "population" and s in ("spouse", "mother", "father")
        for f in fs
    ]
    me = await exchange_read(
        rt,
        registry="population",
        key=id_number,
        fields=needed[("population", "applicant")] + family,
        purpose=purpose,
        reference=reference,
    )
    views["applicant"] = me
    mine = me.data if me else {}
    spouse_key = mine.get("spouse_id_number")
    if spouse_key and any(s in ("spouse", "mother", "father") for _, s in needed):
        views["spouse"] = await exchange_read(
            rt,
            registry="population",
            key=str(spouse_key),
            fields=family,
            purpose=purpose,
            reference=reference,
        )
    female = mine.get("sex") == "F"
    views["mother"] = views.get("applicant") if female else views.get("spouse")
    views["father"] = views.get("spouse") if female else views.get("applicant")
    result = Prefill()
    home = mine.get("permanent_address") or {}
    result.commune_code = home.get("commune_code")
    result.province_code = home.get("province_code")
    for (registry, subject), fields in needed.items():
        if registry == "population":
            continue
        if subject == "child":
            continue  # read by `collect_child` once the parent has picked the child
        key = _subject_key(subject, mine, views)
        views[f"{registry}:{subject}"] = (
            await exchange_read(
                rt, registry=registry, key=str(key), fields=fields, purpose=purpose, reference=reference
            )
            if key
            else None
        )
    for rule in proc.prefill:
        registry, subject = rule["source"], rule["subject"]
        if subject == "child":
            result.missing.append(rule["path"])
            continue
        view = views.get(subject) if registry == "population" else views.get(f"{registry}:{subject}")
        if view is None:
            result.missing.append(rule["path"])
            continue
        value = _value(registry, rule["field"], view.data)
        if value in (None, ""):
            result.missing.append(rule["path"])
            continue
        result.values[rule["path"]] = value
        result.sources[rule["path"]] = Source(
            registry=registry,
            key=view.key,
            agency=_owner(registry),
            changed_at=view.valid_from.isoformat(),
            mode=rule["mode"],
        )
    return result


def has_child(proc: Procedure) -> bool:
    """Whether the procedure is about a child of the applicant (its form takes a `child` subject)."""
    return any(rule["subject"] == "child" for rule in proc.prefill)


def child_paths(proc: Procedure) -> set[str]:
    return {rule["path"] for rule in proc.prefill if rule["subject"] == "child"}


def _purpose(proc: Procedure) -> str:
    return f"Điền sẵn hồ sơ {proc.raw['name']['vi']} (thủ tục {proc.code})"


@dataclass(frozen=True)
class Child:
    id_number: str
    full_name: str


async def children(rt: Runtime, proc: Procedure, *, id_number: str, reference: str) -> list[Child]:
    """The applicant's children: the members of the applicant's household (residence registry) whose
    population record names the applicant as father or mother. Every read goes through the exchange."""
    purpose = _purpose(proc)
    me = await exchange_read(
        rt,
        registry="population",
        key=id_number,
        fields=["household_id", "spouse_id_number"],
        purpose=purpose,
        reference=reference,
    )
    household_id = me.data.get("household_id") if me else None
    if not household_id:
        return []
    home = await exchange_read(
        rt,
        registry="residence",
        key=str(household_id),
        fields=["members"],
        purpose=purpose,
        reference=reference,
    )
    spouse = (me.data.get("spouse_id_number") if me else None) or ""
    found: list[Child] = []
    for member in (home.data.get("members") if home else None) or []:
        if not isinstance(member, dict):
            continue
        key = str(member.get("id_number") or "")
        if not key or key in (id_number, spouse):
            continue
        person = await exchange_read(
            rt,
            registry="population",
            key=key,
            fields=["full_name", "father_id_number", "mother_id_number"],
            purpose=purpose,
            reference=reference,
        )
        if person and id_number in (person.data.get("father_id_number"), person.data.get("mother_id_number")):
            found.append(
                Child(person.key, str(person.data.get("full_name") or member.get("full_name") or key))
            )
    return found


async def collect_child(rt: Runtime, proc: Procedure, *, child_id_number: str, reference: str) -> Prefill:
    """The procedure's `child` fields, read through the exchange about a child already checked to be the
    applicant's (see `children`)."""
    purpose = _purpose(proc)
    wanted: dict[str, list[str]] = {}
    for rule in proc.prefill:
        if rule["subject"] == "child":
            want = _DERIVED.get((rule["source"], rule["field"]), [rule["field"]])
            wanted.setdefault(rule["source"], []).extend(want)
    views: dict[str, Read | None] = {}
    for registry, fields in wanted.items():
        views[registry] = await exchange_read(
            rt, registry=registry, key=child_id_number, fields=fields, purpose=purpose, reference=reference
        )
    result = Prefill()
    for rule in proc.prefill:
        if rule["subject"] != "child":
            continue
        view = views.get(rule["source"])
        value = _value(rule["source"], rule["field"], view.data) if view else None
        if view is None or value in (None, ""):
            result.missing.append(rule["path"])
            continue
        result.values[rule["path"]] = value
        result.sources[rule["path"]] = Source(
            registry=rule["source"],
            key=view.key,
            agency=_owner(rule["source"]),
            changed_at=view.valid_from.isoformat(),
            mode=rule["mode"],
        )
    return result


def _owner(registry: str) -> str:
    return {
        "population": "BCA",
        "residence": "BCA",
        "civil_status": "BTP",
        "health_insurance": "BHXH",
        "social_insurance": "BHXH",
    }.get(registry, "")
