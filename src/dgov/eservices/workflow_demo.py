"""Demo data of the workflow engine: deploy every BPMN file of the repository (called by demo.py)."""

from __future__ import annotations

import logging

from dgov.eservices import workflow
from dgov.web.runtime import Runtime

log = logging.getLogger(__name__)


async def load(rt: Runtime) -> None:
    async with rt.db.uow() as uow:
        await workflow.deploy_repo(uow, actor="system:demo")
        await uow.commit()


# --- `dgov demo birth`: the flagship journey through the service layer ----------------------------------

import uuid  # noqa: E402
from datetime import timedelta  # noqa: E402
from typing import Any  # noqa: E402

from dgov.eservices import dossiers, dossiers_attachments, dossiers_citizen, worklist  # noqa: E402
from dgov.eservices.catalogue import procedure  # noqa: E402
from dgov.eservices.models import dossiers as t_dossiers  # noqa: E402
from dgov.identity import SYSTEM, Principal, RoleGrant  # noqa: E402
from dgov.kernel import clock  # noqa: E402
from dgov.kernel.clock import VN_TZ  # noqa: E402
from dgov.kernel.ids import new_id  # noqa: E402
from dgov.registries import RegistriesContext, read_record  # noqa: E402

AN, AN_NAME = "001090012345", "Nguyễn Văn An"
# The demo officials (identity/demo.py) as principals. Identity exports no account lookup, so their
# account ids here are stable stand-ins; the roles are the ones the demo gives them.
OFFICIALS = {
    "hotich.badinh": (RoleGrant("BTP", "civil_status_officer", "00004"),),
    "cutru.badinh": (RoleGrant("BCA", "residence_officer", "00004"),),
    "bhyt.hanoi": (RoleGrant("BHXH", "insurance_officer", "01"),),
}
_NS = uuid.UUID("6f1f4a52-3c1e-4d8e-9a43-0b9d3c1f2e10")


def official(username: str) -> Principal:
    return Principal(
        kind="official", account_id=uuid.uuid5(_NS, username), level=2, roles=OFFICIALS[username]
    )


def citizen(id_number: str) -> Principal:
    return Principal(kind="citizen", account_id=uuid.uuid5(_NS, f"citizen:{id_number}"), level=2)


def child_form(n: int = 0) -> dict[str, Any]:
    born = (clock.now().astimezone(VN_TZ) - timedelta(days=3)).date()
    names = ["Minh Anh", "Gia Bảo", "Khánh Linh", "Đức Huy", "Ngọc Hân", "Quốc Bảo"]
    middle, given = names[n % len(names)].split()
    return {
        "child": {
            "surname": "Nguyễn",
            "middle_name": middle,
            "given_name": given,
            "sex": "F" if n % 2 == 0 else "M",
            "birth_date": born.isoformat(),
            "birth_place": "Bệnh viện Phụ sản Hà Nội",
            "ethnicity": "Kinh",
            "nationality": "VN",
        },
        "residence": {"household_of": "father", "relationship_to_head": "child"},
        "insurance": {"initial_clinic": "01-001", "card_delivery": "post"},
    }


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k) or {}, v) if isinstance(v, dict) else v
    return out


async def submit_bundle(rt: Runtime, applicant: Principal, id_number: str, name: str, n: int = 0) -> Any:
    """The parent's side, through the same use cases as the form pages: open the draft (prefilled
    through the exchange), upload the birth notice, type the child's data, submit."""

    who = dossiers_citizen.Applicant(applicant, id_number, name)
    draft = await dossiers_citizen.open_draft(rt, who, "birth-bundle")
    await dossiers_attachments.attach_upload(
        rt, who, draft.id, "birth_notice", filename="giay-chung-sinh.pdf", data=birth_notice_pdf(n)
    )
    data = _merge(draft.data, child_form(n))
    return await dossiers_citizen.submit(
        rt, who, "birth-bundle", data, idempotency_key=f"demo-birth-{draft.id}", draft_id=draft.id
    )


def birth_notice_pdf(n: int = 0) -> bytes:
    """A made-up birth notice (giấy chứng sinh) as the hospital would hand it to the parents."""
    from weasyprint import HTML  # WeasyPrint costs seconds to import; only this demo document needs it

    child = child_form(n)["child"]
    html = (
        "<html><body style='font-family: DejaVu Sans'><h1>GIẤY CHỨNG SINH</h1>"
        f"<p>Bệnh viện Phụ sản Hà Nội — trẻ sinh ngày {child['birth_date']}, "
        f"giới tính {'nữ' if child['sex'] == 'F' else 'nam'}.</p>"
        "<p>(Giấy tờ mẫu của dữ liệu thử nghiệm dgov.)</p></body></html>"
    )
    return bytes(HTML(string=html).write_pdf())


async def _family_form(rt: Runtime, id_number: str, n: int) -> dict[str, Any]:
    """What prefill would have put in the form: the parents from the population registry."""

    ctx = RegistriesContext(rt.db)
    me = (await read_record(ctx, SYSTEM, "population", id_number, purpose="Birth bundle")).data
    spouse = (
        await read_record(ctx, SYSTEM, "population", me["spouse_id_number"], purpose="Birth bundle")
    ).data
    mother, father = (me, spouse) if me["sex"] == "F" else (spouse, me)
    form = {
        "applicant": {
            "full_name": me["full_name"],
            "id_number": me["id_number"],
            "birth_date": me["birth_date"],
            "relationship": "mother" if me["sex"] == "F" else "father",
        },
        "mother": {"full_name": mother["full_name"], "id_number": mother["id_number"]},
        "father": {"full_name": father["full_name"], "id_number": father["id_number"]},
        "_route": me.get("permanent_address", {}),
    }
    # Where each value came from, as the form's prefill would record it (the population registry, BCA).
    form["_sources"] = {
        f"{section}.{name}": {
            "registry": "population",
            "agency": "BCA",
            "key": form[section]["id_number"],
            "mode": "readonly",
            "value": value,
        }
        for section in ("applicant", "mother", "father")
        for name, value in form[section].items()
        if name != "relationship"
    }
    return _merge(form, child_form(n))


async def direct_submit(
    rt: Runtime, applicant: Principal, id_number: str, name: str, procedure_id: str, data: dict[str, Any]
) -> Any:
    """A submitted dossier without the form pages (demo fallback, tests, bench): the same dossier
    functions, code, status and process start as a submission, minus prefill and form validation."""

    proc = procedure(procedure_id)
    route = data.pop("_route", {}) or {}
    sources = data.pop("_sources", {}) or {}
    now = clock.now()
    dossier_id = new_id()
    async with rt.db.uow() as uow:
        await uow.session.execute(
            t_dossiers.insert().values(
                id=dossier_id,
                code=None,
                procedure_id=proc.id,
                procedure_digest=proc.digest,
                agency_code=proc.agency["code"],
                agency_member=proc.agency["member"],
                applicant_account=applicant.account_id,
                applicant_id_number=id_number,
                applicant_name=name,
                on_behalf_of=None,
                commune_code=route.get("commune_code"),
                province_code=route.get("province_code"),
                status=dossiers.DRAFT,
                idempotency_key=f"direct-{dossier_id}",
                data=data,
                sources=sources,
                attachments=[{"document": "birth_notice", "name": "giay-chung-sinh.pdf", "source": "demo"}],
                results=[],
                created_at=now,
                updated_at=now,
                submitted_at=None,
                due_date=None,
                closed_at=None,
                rating=None,
                rating_comment=None,
            )
        )
        d = await dossiers.get(uow, dossier_id)
        d = await dossiers.assign_code(uow, d)
        d = await dossiers.transition(uow, d.id, dossiers.SUBMITTED, actor=applicant, actor_name=name)
        await workflow.start(uow, d)
        await uow.commit()
    return d


async def process_bundle(rt: Runtime, dossier_id: uuid.UUID) -> None:
    """The three agencies' officials each approve their branch from their own queue."""

    for username in OFFICIALS:
        actor = official(username)
        items = [w for w in await worklist.queue(rt.db, actor) if w.dossier_id == dossier_id]
        for item in items:
            await worklist.claim(rt.db, actor, item.id)
            await worklist.act(rt.db, rt, actor, item.id, "approve")


async def birth_journey(rt: Runtime, *, n: int = 0) -> dict[str, Any]:

    await load(rt)
    d = await submit_bundle(rt, citizen(AN), AN, AN_NAME, n)
    await process_bundle(rt, d.id)
    async with rt.db.uow(readonly=True) as uow:
        d = await dossiers.get(uow, d.id)
        inst = await workflow.instance_for(uow, dossier_id=d.id)
    wf = workflow.load(inst, mutate=False)
    data = wf.data if wf.is_completed() else {}
    cert = data.get("certificate") or {}
    return {
        "dossier_code": d.code,
        "status": d.status,
        "process": f"{inst.process_name} v{inst.process_version}",
        "child_id_number": data.get("child_id_number"),
        "birth_registration_number": data.get("birth_registration_number"),
        "insurance_card_number": data.get("insurance_card_number"),
        "household_id": data.get("household_id"),
        "certificate_path": cert.get("path"),
        "certificate_signed": bool(data.get("certificate_signed")),
    }
