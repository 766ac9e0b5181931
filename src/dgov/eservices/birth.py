"""The birth bundle's service tasks (Decree 63/2024): register the birth and issue the child's number,
add the child to the household, issue the health insurance card, issue the signed certificate into
both parents' wallets, publish `person.born`.

Registry writes go through `dgov.registries`' exported use cases as the system actor with provenance
(dossier code, legal basis). The exchange publishes read services only, so writes do not go through
it yet. Every handler is idempotent for its dossier: keys derive from the dossier or the child's number,
and the one random step (the ID number) is recorded in the same transaction that creates the record.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dgov.eservices import tasks
from dgov.eservices.tasks import Step
from dgov.eservices.workflow_models import WorkflowEffect
from dgov.identity import SYSTEM
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.clock import VN_TZ
from dgov.kernel.errors import Conflict
from dgov.kernel.uow import UnitOfWork
from dgov.registries import (
    Provenance,
    RegistriesContext,
    create_record,
    read_record,
    register_newborn,
    update_record,
)

log = logging.getLogger(__name__)
ACTOR = "system:eservices"
LEGAL = {
    "civil_status": "Luật Hộ tịch 60/2014/QH13; Nghị định 63/2024/NĐ-CP",
    "population": "Luật Căn cước 26/2023/QH15; Nghị định 63/2024/NĐ-CP",
    # The newborn joins a parent's household on the basis that a minor resides with the parents (Art. 12
    # cl. 1); any other head's consent is obtained before the process starts (eservices.relations).
    "residence": "Luật Cư trú 68/2020/QH14 (Điều 12 khoản 1); Nghị định 63/2024/NĐ-CP",
    "health_insurance": "Luật Bảo hiểm y tế 25/2008/QH12 (sửa đổi); Nghị định 63/2024/NĐ-CP",
}


def _prov(step: Step, registry: str, reason: str) -> Provenance:
    return Provenance(actor=ACTOR, reason=reason, legal_basis=LEGAL[registry], dossier_code=step.dossier_code)


def _form(step: Step) -> dict[str, Any]:
    return dict(step.data.get("form", {}))


def _child_name(child: dict[str, Any]) -> str:
    return " ".join(p for p in (child.get("surname"), child.get("middle_name"), child.get("given_name")) if p)


def _today() -> date:
    return clock.now().astimezone(VN_TZ).date()


def _serial(step: Step, digits: int = 6) -> str:
    return str(int(hashlib.sha256(step.dossier_code.encode()).hexdigest(), 16) % 10**digits).zfill(digits)


async def _parent(services: Any, id_number: str, step: Step) -> dict[str, Any]:
    view = await read_record(
        RegistriesContext(services.db),
        SYSTEM,
        "population",
        id_number,
        purpose="Birth bundle",
        dossier_code=step.dossier_code,
    )
    return view.data


async def _recorded(services: Any, step: Step, name: str) -> dict[str, Any] | None:
    async with services.db.uow(readonly=True) as uow:
        found = await uow.session.scalar(
            select(WorkflowEffect.result).where(
                WorkflowEffect.instance_id == step.instance_id, WorkflowEffect.step == name
            )
        )
    return dict(found) if found is not None else None


@tasks.external("birth.register")
async def register(services: Any, step: Step) -> dict[str, Any]:
    """Civil status (justice): the child's population record with a new ID number, then the birth entry."""
    form = _form(step)
    child, mother, father = form.get("child", {}), form.get("mother", {}), form.get("father", {})
    route = step.data.get("route", {})
    household_parent = form.get("residence", {}).get("household_of") or "mother"
    parent = await _parent(
        services,
        (mother if household_parent == "mother" else father).get("id_number") or mother["id_number"],
        step,
    )
    done = await _recorded(services, step, "birth.register.child")
    if done is None:
        record = {
            "surname": child["surname"],
            "middle_name": child.get("middle_name", ""),
            "given_name": child["given_name"],
            "full_name": _child_name(child),
            "birth_date": child["birth_date"],
            "sex": child["sex"],
            "ethnicity": child.get("ethnicity", "Kinh"),
            "nationality": child.get("nationality", "VN"),
            "birth_place": child.get("birth_place", ""),
            "mother_id_number": mother.get("id_number"),
            "permanent_address": parent.get("permanent_address"),
            "household_id": parent.get("household_id"),
            "status": "alive",
        }
        if father.get("id_number"):
            record["father_id_number"] = father["id_number"]
        record = {k: v for k, v in record.items() if v not in (None, "")}
        async with services.db.uow() as uow:
            view = await register_newborn(
                uow,
                record,
                _prov(step, "population", "Birth registration"),
                clock.now(),
                province=route.get("province") or "01",
                registered_on=_today(),
            )
            uow.session.add(
                WorkflowEffect(
                    instance_id=step.instance_id,
                    step="birth.register.child",
                    result={"id_number": view.key},
                    created_at=clock.now(),
                )
            )
            uow.audit(
                AuditEntry(
                    actor=ACTOR,
                    action="registries.record_created",
                    object_type="population",
                    object_id=view.key,
                    legal_basis=LEGAL["population"],
                    details={"version": 1, "dossier": step.dossier_code},
                )
            )
            await uow.commit()
        done = {"id_number": view.key}
    id_number = str(done["id_number"])
    commune = route.get("commune") or "00004"
    number = f"{commune}-{_today().year}-KS-{_serial(step)}"
    entry = {
        "registration_number": number,
        "event_type": "birth",
        "id_number": id_number,
        "full_name": _child_name(child),
        "birth_date": child["birth_date"],
        "sex": child["sex"],
        "ethnicity": child.get("ethnicity", "Kinh"),
        "nationality": child.get("nationality", "VN"),
        "event_date": child["birth_date"],
        "event_place": child.get("birth_place", ""),
        "registration_date": _today().isoformat(),
        "authority": {
            "name": "Ủy ban nhân dân cấp xã",
            "commune_code": commune,
            "province_code": route.get("province") or "01",
        },
        "mother_id_number": mother.get("id_number"),
        "mother_full_name": mother.get("full_name"),
        "father_id_number": father.get("id_number"),
        "father_full_name": father.get("full_name"),
        "requester_id_number": form.get("applicant", {}).get("id_number"),
        "requester_relationship": form.get("applicant", {}).get("relationship"),
        "status": "valid",
    }
    entry = {k: v for k, v in entry.items() if v not in (None, "")}
    with contextlib.suppress(Conflict):  # a retry: the record is there already
        await create_record(
            RegistriesContext(services.db),
            SYSTEM,
            "civil_status",
            entry,
            prov=_prov(step, "civil_status", "Birth registration"),
        )
    return {
        "child_id_number": id_number,
        "birth_registration_number": number,
        "household_id": parent.get("household_id"),
        "address": parent.get("permanent_address"),
    }


@tasks.external("birth.residence")
async def residence(services: Any, step: Step) -> dict[str, Any]:
    """Permanent residence (police): the child joins the chosen parent's household."""
    household = step.data.get("household_id")
    child_id = step.data["child_id_number"]
    if not household:
        return {"residence_registered": False}
    ctx = RegistriesContext(services.db)
    view = await read_record(
        ctx, SYSTEM, "residence", household, purpose="Birth bundle", dossier_code=step.dossier_code
    )
    members = list(view.data.get("members", []))
    if not any(m.get("id_number") == child_id for m in members):
        rel = _form(step).get("residence", {}).get("relationship_to_head") or "child"
        members.append(
            {
                "id_number": child_id,
                "full_name": _child_name(_form(step).get("child", {})),
                "relationship_to_head": rel
                if rel in {"child", "grandchild", "other_relative", "other"}
                else "child",
                "since": _today().isoformat(),
            }
        )
        await update_record(
            ctx,
            SYSTEM,
            "residence",
            household,
            {"members": members},
            prov=_prov(step, "residence", "Permanent residence registration"),
            merge=True,
        )
    return {"residence_registered": True}


def _clinic(choice: str) -> dict[str, str]:
    digits = choice.replace("-", "")[:5].ljust(5, "0")
    return {"code": digits, "name": f"Cơ sở khám chữa bệnh ban đầu {choice}", "province_code": digits[:2]}


@tasks.external("birth.insurance")
async def insurance(services: Any, step: Step) -> dict[str, Any]:
    """Health insurance card for a child under 6 (social insurance): free, valid until the 6th birthday."""
    form = _form(step)
    child = form.get("child", {})
    child_id = step.data["child_id_number"]
    route = step.data.get("route", {})
    province = route.get("province") or "01"
    si = (province + child_id[-8:])[:10]
    card = f"TE1{province}{si}"
    born = date.fromisoformat(child["birth_date"])
    try:
        sixth = born.replace(year=born.year + 6)
    except ValueError:  # 29 February
        sixth = date(born.year + 6, 3, 1)
    record = {
        "card_number": card,
        "holder_id_number": child_id,
        "social_insurance_number": si,
        "full_name": _child_name(child),
        "birth_date": child["birth_date"],
        "sex": child["sex"],
        "beneficiary_category": "TE",
        "benefit_level": 1,
        "valid_from": child["birth_date"],
        "valid_to": (sixth - timedelta(days=1)).isoformat(),
        "initial_clinic": _clinic(str(form.get("insurance", {}).get("initial_clinic", "01-001"))),
        "issued_on": _today().isoformat(),
        # The card's unit (the dossier's province and commune): insurance officials read it there only.
        "issuing_unit": {"province_code": province}
        | ({"commune_code": route["commune"]} if route.get("commune") else {}),
        "status": "active",
    }
    with contextlib.suppress(Conflict):  # a retry: the record is there already
        await create_record(
            RegistriesContext(services.db),
            SYSTEM,
            "health_insurance",
            record,
            prov=_prov(step, "health_insurance", "Health insurance card for a child under 6"),
        )
    return {"insurance_card_number": card}


@tasks.external("birth.certificate")
async def certificate(services: Any, step: Step) -> dict[str, Any]:
    form = _form(step)
    child = form.get("child", {})
    mother_id, father_id = form.get("mother", {}).get("id_number"), form.get("father", {}).get("id_number")
    parents = {
        k: await _parent(services, v, step) for k, v in (("mother", mother_id), ("father", father_id)) if v
    }
    address = step.data.get("address") or {}
    residence = (
        ", ".join(x for x in (address.get("street"), form.get("residence", {}).get("address")) if x)
        or "Việt Nam"
    )

    def parent(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "full_name": p["full_name"],
            "birth_year": int(str(p["birth_date"])[:4]),
            "ethnicity": p.get("ethnicity") or "Kinh",
            "nationality": "Việt Nam" if p.get("nationality", "VN") == "VN" else p["nationality"],
            "residence": residence,
            "id_number": p["id_number"],
        }

    home = parents.get("father") or parents.get("mother") or {}
    data = {
        "child": {
            "full_name": _child_name(child),
            "birth_date": child["birth_date"],
            "sex": child["sex"],
            "birth_date_words": _date_words(date.fromisoformat(child["birth_date"])),
            "ethnicity": child.get("ethnicity", "Kinh"),
            "nationality": "Việt Nam" if child.get("nationality", "VN") == "VN" else child["nationality"],
            "birth_place": child.get("birth_place") or "Việt Nam",
            "hometown": home.get("hometown") or "Việt Nam",
            "id_number": step.data["child_id_number"],
        },
        "mother": parent(parents["mother"]) if "mother" in parents else None,
        "father": parent(parents["father"]) if "father" in parents else None,
        "registration": {
            "place": "Ủy ban nhân dân phường Ba Đình"
            if step.data.get("route", {}).get("commune") == "00004"
            else "Ủy ban nhân dân cấp xã",
            "date": _today().isoformat(),
            "number": str(step.data.get("birth_registration_number", ""))[-6:],
            "book": f"{_today().year}/KS",
        },
    }
    data = {k: v for k, v in data.items() if v is not None}
    return await issue_certificate(services, step, data, [p for p in (mother_id, father_id) if p])


_DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]


def _words(n: int) -> str:
    """Vietnamese words for 1–9999 (enough for a day, a month and a year on a certificate)."""
    parts = []
    thousands, rest = divmod(n, 1000)
    hundreds, rest = divmod(rest, 100)
    tens, ones = divmod(rest, 10)
    if thousands:
        parts.append(f"{_DIGITS[thousands]} nghìn")
    if hundreds or (thousands and rest):
        parts.append(f"{_DIGITS[hundreds]} trăm")
    if tens > 1:
        parts.append(f"{_DIGITS[tens]} mươi")
        if ones:
            parts.append({1: "mốt", 5: "lăm"}.get(ones, _DIGITS[ones]))
    elif tens == 1:
        parts.append("mười")
        if ones:
            parts.append({5: "lăm"}.get(ones, _DIGITS[ones]))
    elif ones:
        parts.append(("lẻ " if (thousands or hundreds) else "") + _DIGITS[ones])
    return " ".join(parts)


def _date_words(d: date) -> str:
    text = f"ngày {_words(d.day)}, tháng {_words(d.month)}, năm {_words(d.year)}"
    return text[0].upper() + text[1:]


async def issue_certificate(
    services: Any, step: Step, data: dict[str, Any], holders: list[str]
) -> dict[str, Any]:
    """Through the documents domain: render, sign (PAdES) and put the certificate into each parent's
    wallet; a copy of the signed PDF is kept under <files>/issued/ for the operator's demo output."""
    documents = importlib.import_module("dgov.documents")
    ctx = documents.documents_context(services.settings, services.db)
    issued = await documents.store_issued(
        ctx,
        SYSTEM,
        template_name="birth-certificate",
        data=data,
        holders=holders,
        dossier_code=step.dossier_code,
        legal_basis=LEGAL["civil_status"],
    )
    out = Path(services.settings.files_dir) / "issued" / f"{issued.document.code}.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(issued.pdf)
    return {
        "certificate": {
            "id": str(issued.document.id),
            "code": issued.document.code,
            "path": str(out.resolve()),
            "sha256": issued.document.sha256,
        },
        "certificate_signed": True,
    }


@tasks.inline("birth.publish")
async def publish(_uow: UnitOfWork, step: Step) -> dict[str, Any]:
    form = _form(step)
    child = form.get("child", {})
    parents = [
        p for p in (form.get("mother", {}).get("id_number"), form.get("father", {}).get("id_number")) if p
    ]
    cert = step.data.get("certificate") or {}
    return {
        "_person_born": {
            k: v
            for k, v in {
                "id_number": step.data["child_id_number"],
                "full_name": _child_name(child),
                "birth_date": child.get("birth_date"),
                "sex": child.get("sex"),
                "registration_number": step.data.get("birth_registration_number"),
                "registration_date": _today().isoformat(),
                "mother_id_number": form.get("mother", {}).get("id_number"),
                "father_id_number": form.get("father", {}).get("id_number"),
                "province_code": step.data.get("route", {}).get("province"),
                "commune_code": step.data.get("route", {}).get("commune"),
            }.items()
            if v
        },
        "_status": ["approved", "result_issued"],
        "_results": [{"kind": "document", "title": "Trích lục khai sinh", "ref": str(cert.get("code", ""))}]
        if cert
        else [],
        "notify_people": parents,
        "notify_template": "eservices.birth_registered",
        "notify_params": {"child": _child_name(child), "id_number": step.data["child_id_number"]},
    }
