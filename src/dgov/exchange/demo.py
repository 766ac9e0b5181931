"""Demo directory: the agencies owning the base registries and the commune's one-stop centre, their
subsystems (keys held by this node), the registries' read services, and the access rights the birth
journey needs.

The one-stop centre of Ba Đình is member `UBND-00004`: "UBND" (Ủy ban nhân dân, the people's committee)
and 00004, Ba Đình's code in the national list of administrative units (the code identity's demo
officials already use for it).
"""

from __future__ import annotations

from dgov.exchange import directory, directory_rights, pubsub_demo, registry_services
from dgov.exchange.client import register_node_subsystem
from dgov.identity import SYSTEM
from dgov.web.runtime import Runtime

MEMBERS = [
    ("BCA", "Bộ Công an", ["CSDLQGDC", "CUTRU"]),
    ("BTP", "Bộ Tư pháp", ["HOTICH"]),
    ("BHXH", "Bảo hiểm xã hội Việt Nam", ["CSDLBH"]),
    ("BGDDT", "Bộ Giáo dục và Đào tạo", ["CSDLGD"]),
    ("BTC", "Bộ Tài chính", ["DKKD"]),
    ("BNNMT", "Bộ Nông nghiệp và Môi trường", ["CSDLDD"]),
    ("UBND-00004", "UBND phường Ba Đình — Bộ phận một cửa", ["MOTCUA"]),
]
ONE_STOP = "GOV/UBND-00004/MOTCUA"

# client subsystem → registries it reads (the birth journey: prefill at the one-stop centre, then each
# agency's approval checks).
RIGHTS = {
    "GOV/UBND-00004/MOTCUA": ["population", "residence", "health_insurance"],
    "GOV/BTP/HOTICH": ["population", "residence"],
    "GOV/BCA/CUTRU": ["population", "residence", "civil_status"],
    "GOV/BHXH/CSDLBH": ["population", "civil_status", "health_insurance"],
}


async def load(rt: Runtime) -> None:
    """Idempotent: what exists is left as it is."""
    instance = rt.settings.exchange_instance
    existing = {m["code"]: m for m in await directory.members(rt.db) if m["instance"] == instance}
    for code, name, subsystems in MEMBERS:
        if code not in existing:
            await directory.add_member(
                rt.db, SYSTEM, instance=instance, member_class="GOV", code=code, name=name
            )
        have = {s["code"] for s in existing.get(code, {"subsystems": []})["subsystems"]}
        for sub in subsystems:
            if sub not in have:
                await register_node_subsystem(rt, SYSTEM, member=f"GOV/{code}", code=sub)
    await registry_services.publish_all(rt.db, SYSTEM, instance=instance)
    for client, registries in RIGHTS.items():
        for registry in registries:
            await directory_rights.grant(
                rt.db,
                SYSTEM,
                client=f"{instance}/{client}",
                service=registry_services.service_address(instance, registry),
            )
    await pubsub_demo.load(rt)
