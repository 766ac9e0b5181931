"""Who may read and write registry records (rules registered with identity's `can`)."""

from __future__ import annotations

from typing import Any

from dgov.identity import Principal, is_operator, register

# Officials read registries for their work (a purpose is always recorded); roles that only process
# dossiers of other kinds would be listed per registry in a later schema field.
READER_ROLES = frozenset(
    {"registry_officer", "civil_status_officer", "residence_officer", "insurance_officer", "one_stop_officer"}
)


def _scope_ok(p: Principal, registry: str, verb: str) -> bool:
    return p.kind == "client" and (
        f"registry.{registry}.{verb}" in p.scopes or f"registry.*.{verb}" in p.scopes
    )


@register("registries.record.read")
def _read(p: Principal, registry: Any) -> bool:
    if is_operator(p) and p.level >= 2:
        return True
    if p.kind == "official" and p.level >= 1 and any(g.role in READER_ROLES for g in p.roles):
        return True
    return _scope_ok(p, str(registry), "read")


@register("registries.record.write")
def _write(p: Principal, registry: Any) -> bool:
    if is_operator(p) and p.level >= 2:
        return True
    if p.kind == "official" and p.level >= 2 and p.holds("registry_officer"):
        return True
    return _scope_ok(p, str(registry), "write")


@register("registries.my_data.view")
def _my_data(p: Principal, _resource: Any) -> bool:
    return p.kind == "citizen" and p.level >= 1
