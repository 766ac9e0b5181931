"""Who may read and write registry records (rules registered with identity's `can`).

Reading is attribute-based (issue 12, defect 2). An official reads a registry through a role grant
(agency, role, unit) when all of these hold:

- the role is a reader role (`READER_ROLES`);
- the grant's agency owns the registry (`x-dgov.owner.member` of its schema) or holds an access right to
  the registry's service in the exchange directory (any of the agency's subsystems; see `AgencyRights`);
- the login's assurance level is at least the registry's (`required_level`: 2 when its records hold
  personal data, which every base registry does today);
- the record lies in the grant's administrative unit: a province grant (2 digits) covers the records
  whose province is that one, a commune grant (5 digits) the records of that commune. A record's unit is
  the one its schema indexes (`x-dgov.index.province` / `.commune`): a record with no unit is read only
  by national grants;
- unless the grant is national: unit `*` held in a ministry-level agency, i.e. one that owns a national
  registry (`national_agencies()`). A `*` grant in any other agency (a commune's people's committee)
  covers no unit at all.

Every read also states its purpose (checked in `service`). Platform operators at level 2 read everything
(support and audit; their reads are logged like anyone's); OAuth clients keep their scope model
(`registry.<name>.read`), since no client is bound to an agency or unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from dgov.identity import Principal, RoleGrant, is_operator, register
from dgov.registries.definitions import Registry, catalogue
from dgov.registries.definitions import registry as definition

# Officials read registries for their work (a purpose is always recorded); roles that only process
# dossiers of other kinds would be listed per registry in a later schema field.
READER_ROLES = frozenset(
    {"registry_officer", "civil_status_officer", "residence_officer", "insurance_officer", "one_stop_officer"}
)
NATIONWIDE = "*"

# agency code → registries it may read through the exchange (rights granted to its subsystems)
AgencyRights = Mapping[str, frozenset[str]]


@cache
def national_agencies() -> frozenset[str]:
    """Ministry-level agencies: those owning a national registry (BCA, BTP, BHXH, …)."""
    return frozenset(versions[max(versions)].owner for versions in catalogue().values()) - {""}


def required_level(reg: Registry) -> int:
    """The assurance level an official needs: 2 for personal data, 1 otherwise."""
    return 2 if reg.personal_fields() or reg.subject_field else 1


def agency_may_read(agency: str, registry: str, rights: AgencyRights) -> bool:
    return definition(registry).owner == agency or registry in rights.get(agency, frozenset())


def is_national(g: RoleGrant) -> bool:
    return g.unit == NATIONWIDE and g.agency in national_agencies()


@dataclass(frozen=True)
class Reach:
    """Where an actor may read one registry: nowhere, nationwide, or in these units (province codes of
    2 digits, commune codes of 5)."""

    nationwide: bool = False
    units: frozenset[str] = field(default_factory=frozenset)

    @property
    def anywhere(self) -> bool:
        return self.nationwide or bool(self.units)

    def covers(self, province: str | None, commune: str | None) -> bool:
        if self.nationwide:
            return True
        return any((len(u) == 2 and u == province) or (len(u) == 5 and u == commune) for u in self.units)


NOWHERE = Reach()
EVERYWHERE = Reach(nationwide=True)


def _grants_for(p: Principal, registry: str, rights: AgencyRights) -> Iterable[RoleGrant]:
    return (g for g in p.roles if g.role in READER_ROLES and agency_may_read(g.agency, registry, rights))


def reach(p: Principal, registry: str, rights: AgencyRights | None = None) -> Reach:
    """The actor's reach in `registry` (clients and the system: everywhere their scope allows)."""
    reg = definition(registry)
    if p.kind == "system":
        return EVERYWHERE
    if is_operator(p):
        return EVERYWHERE if p.level >= 2 else NOWHERE
    if p.kind == "client":
        return EVERYWHERE if _scope_ok(p, reg.name, "read") else NOWHERE
    if p.kind != "official" or p.level < required_level(reg):
        return NOWHERE
    grants = list(_grants_for(p, reg.name, rights or {}))
    if any(is_national(g) for g in grants):
        return EVERYWHERE
    return Reach(units=frozenset(g.unit for g in grants if g.unit != NATIONWIDE))


def needs_higher_level(p: Principal, registry: str, rights: AgencyRights | None = None) -> bool:
    """An official who would reach the registry with a level-2 login but is logged in at level 1."""
    if p.kind != "official" or p.level >= required_level(definition(registry)):
        return False
    return bool(list(_grants_for(p, registry, rights or {})))


@dataclass(frozen=True)
class ReadTarget:
    """What `registries.record.read` is asked about: a registry as a whole (`unit` None: may the actor
    read any of it?) or one record in its unit (province, commune)."""

    registry: str
    rights: AgencyRights = field(default_factory=dict)
    unit: tuple[str | None, str | None] | None = None


def _scope_ok(p: Principal, registry: str, verb: str) -> bool:
    return p.kind == "client" and (
        f"registry.{registry}.{verb}" in p.scopes or f"registry.*.{verb}" in p.scopes
    )


@register("registries.record.read")
def _read(p: Principal, resource: Any) -> bool:
    target = resource if isinstance(resource, ReadTarget) else ReadTarget(str(resource))
    r = reach(p, target.registry, target.rights)
    if target.unit is None:
        return r.anywhere
    return r.covers(*target.unit)


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
def _access_log(p: Principal, resource: Any) -> bool:
    """Who read a person's data: the person (level 1+), an application acting for them with the
    data-usage scope, or an official who may read the person's population record (`resource`: a
    ReadTarget with the person's unit; the service passes it)."""
    if p.kind == "citizen" and p.level >= 1:
        return True
    if p.kind == "client":
        return p.account_id is not None and DATA_USAGE_SCOPE in p.scopes
    return _read(p, resource if isinstance(resource, ReadTarget) else ReadTarget("population"))
