"""Who may do what with documents (rules registered with identity's `can`).

A citizen acts on their own wallet, or on the wallet of a child under 14 in their care (through
identity's `act_for`). An official reads a document issued by their agency, or of the kind their role
issues in their administrative unit, or attached to a dossier their agency handles. Nobody else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from dgov.identity import Principal, register

OFFICIAL_KINDS = frozenset({"official", "operator"})


@dataclass(frozen=True)
class Holder:
    """A person whose wallet is used: their personal ID number and their account (established by the
    login, never taken from a form)."""

    id_number: str
    account_id: uuid.UUID | None


@dataclass(frozen=True)
class DocumentAccess:
    agency: str | None
    unit: str | None
    issuer_roles: tuple[str, ...]
    people: frozenset[str]  # the holders, the uploader and the subject
    holder: Holder | None = None
    dossier_agency: str | None = None  # set by a caller handling a dossier this document is attached to


def acts_as(p: Principal, holder: Holder | None) -> bool:
    """`p` is the holder logged in, or a parent acting for the holder (act_for checked the age and link)."""
    if holder is None or p.kind != "citizen" or p.level < 1 or p.account_id is None:
        return False
    if p.acting_for is not None:
        return p.acting_for == holder.account_id
    return p.account_id == holder.account_id


def official_may_read(p: Principal, res: DocumentAccess) -> bool:
    if p.kind not in OFFICIAL_KINDS or p.level < 1:
        return False
    for g in p.roles:
        if res.agency and g.agency == res.agency and (res.unit is None or g.unit in (res.unit, "*")):
            return True
        if g.role in res.issuer_roles and (res.unit is None or g.unit in (res.unit, "*")):
            return True
        if res.dossier_agency and g.agency == res.dossier_agency:
            return True
    return False


@register("documents.wallet.view")
def _wallet(p: Principal, holder: Any) -> bool:
    return isinstance(holder, Holder) and acts_as(p, holder)


@register("documents.upload")
def _upload(p: Principal, holder: Any) -> bool:
    return isinstance(holder, Holder) and acts_as(p, holder) and p.level >= 1


@register("documents.document.read")
def _read(p: Principal, res: Any) -> bool:
    if not isinstance(res, DocumentAccess):
        return False
    if res.holder is not None and acts_as(p, res.holder) and res.holder.id_number in res.people:
        return True
    return official_may_read(p, res)


@register("documents.document.attach")
def _attach(p: Principal, res: Any) -> bool:
    """Only the holder (or a parent for a child) puts a wallet document into a dossier."""
    return (
        isinstance(res, DocumentAccess)
        and res.holder is not None
        and acts_as(p, res.holder)
        and (res.holder.id_number in res.people)
    )


@register("documents.issue")
def _issue(p: Principal, res: Any) -> bool:
    """Issuing signs in an agency's name: an official at level 2 holding a role that issues this kind
    of document in the unit (the system itself, e.g. a workflow's service task, is always allowed)."""
    if not isinstance(res, DocumentAccess) or p.kind != "official" or p.level < 2:
        return False
    return any(
        g.role in res.issuer_roles and (res.unit is None or g.unit in (res.unit, "*")) for g in p.roles
    )
