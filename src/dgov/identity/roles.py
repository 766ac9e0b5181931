"""Roles an official may hold. Names are msgids (translated on pages); domains check roles via `authz`."""

from __future__ import annotations

# role code → English name (msgid). A role is always held in one agency and one administrative unit.
ROLES: dict[str, str] = {
    "operator": "Platform operator",
    "one_stop_officer": "One-stop shop officer (receives dossiers)",
    "civil_status_officer": "Civil status officer",
    "residence_officer": "Residence registration officer",
    "insurance_officer": "Health insurance officer",
    "registry_officer": "Registry officer",
    "agency_admin": "Agency administrator",
}

NATIONWIDE = "*"
