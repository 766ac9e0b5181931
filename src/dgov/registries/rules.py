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


# An application the person authorised (authorization code flow) to show them who used their data.
DATA_USAGE_SCOPE = "my_data_usage"


@register("registries.access_log.view")
def _access_log(p: Principal, _resource: Any) -> bool:
    """Who read a person's data: the person (level 1+), an application acting for them with the
    data-usage scope, or an official who may read the population registry (to answer the person)."""
    if p.kind == "citizen" and p.level >= 1:
        return True
    if p.kind == "client":
        return p.account_id is not None and DATA_USAGE_SCOPE in p.scopes
    return _read(p, "population")
