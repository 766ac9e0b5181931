"""Who may do what with a dossier (rules registered with identity's `can`)."""

from __future__ import annotations

from typing import Any

from dgov.identity import Principal, is_operator, register

# Roles that process dossiers; an official acts on a dossier of an agency they hold a role in, within
# their administrative unit (commune or province of the dossier) or nationwide.
PROCESSING_ROLES = frozenset(
    {"one_stop_officer", "civil_status_officer", "residence_officer", "insurance_officer", "registry_officer"}
)


def is_applicant(p: Principal, dossier: Any) -> bool:
    return (
        p.kind == "citizen"
        and p.level >= 1
        and p.account_id is not None
        and p.account_id == getattr(dossier, "applicant_account", None)
    )


def processes(p: Principal, dossier: Any) -> bool:
    if p.kind != "official" or p.level < 1:
        return False
    agencies: set[str] = set(getattr(dossier, "agencies", ()) or ())
    units = {getattr(dossier, "commune_code", None), getattr(dossier, "province_code", None), "*"}
    for g in p.roles:
        member = g.agency.split("-", 1)[0]
        if g.role in PROCESSING_ROLES and member in agencies and g.unit in units:
            return True
    return False


@register("eservices.dossier.create")
def _create(p: Principal, _resource: Any) -> bool:
    return p.kind == "citizen" and p.level >= 1 and p.account_id is not None


@register("eservices.dossier.view")
def _view(p: Principal, dossier: Any) -> bool:
    return is_applicant(p, dossier) or processes(p, dossier) or (is_operator(p) and p.level >= 2)


@register("eservices.dossier.applicant")
def _applicant(p: Principal, dossier: Any) -> bool:
    """Acting as the dossier's applicant: edit the draft, submit, supply, withdraw, write, rate."""
    return is_applicant(p, dossier)


@register("eservices.dossier.process")
def _process(p: Principal, dossier: Any) -> bool:
    return processes(p, dossier)
