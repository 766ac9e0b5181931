"""Authorisation as a service-layer function: `can(principal, action, resource)`.

Every use case calls `require(...)` before it acts, whatever the entry point (page, API, CLI), so a
route that forgets a check still cannot act. Rules are plain functions registered per action; other
domains register theirs with `register`.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dgov.identity.roles import NATIONWIDE
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Forbidden, Unauthenticated


@dataclass(frozen=True)
class RoleGrant:
    agency: str
    role: str
    unit: str  # an administrative unit code, or "*" for nationwide


@dataclass(frozen=True)
class Principal:
    """Who is acting: a person (citizen, official, operator), an OAuth client, or the system itself."""

    kind: str  # anonymous | citizen | official | operator | client | system
    account_id: uuid.UUID | None = None
    level: int = 0  # assurance level of the login (0 anonymous, 1 password, 2 second factor)
    roles: tuple[RoleGrant, ...] = ()
    client_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # Set when a parent acts for a child under 14: account_id is the parent, acting_for the child.
    acting_for: uuid.UUID | None = None

    @property
    def ref(self) -> str:
        """How the audit chain names this actor."""
        if self.kind == "client":
            return f"client:{self.client_id}"
        if self.account_id is not None:
            return f"{self.kind}:{self.account_id}"
        return self.kind

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    def holds(self, role: str, *, agency: str | None = None, unit: str | None = None) -> bool:
        return any(
            g.role == role
            and (agency is None or g.agency == agency)
            and (unit is None or g.unit in (unit, NATIONWIDE))
            for g in self.roles
        )


ANONYMOUS = Principal(kind="anonymous")
SYSTEM = Principal(kind="system")

Rule = Callable[[Principal, Any], bool]
_rules: dict[str, Rule] = {}


def register(action: str) -> Callable[[Rule], Rule]:
    def add(rule: Rule) -> Rule:
        if action in _rules and _rules[action] is not rule:
            raise ValueError(f"action {action!r} already has a rule")
        _rules[action] = rule
        return rule

    return add


def actions() -> list[str]:
    return sorted(_rules)


def can(principal: Principal, action: str, resource: Any = None) -> bool:
    rule = _rules.get(action)
    if rule is None:
        raise KeyError(f"unknown action {action!r}")  # a typo must not silently deny or allow
    if principal.kind == "system":
        return True
    return rule(principal, resource)


def require(principal: Principal, action: str, resource: Any = None) -> None:
    if can(principal, action, resource):
        return
    if not principal.authenticated:
        raise Unauthenticated()
    raise Forbidden()


def is_operator(p: Principal) -> bool:
    return p.kind == "operator" or p.holds("operator")


# --- identity's own actions ------------------------------------------------------------------------

PEOPLE = frozenset({"citizen", "official", "operator"})
GUARDIANSHIP_ENDS_AT = 14  # from 14 a child has a login of their own (see service.CHILD_AGE_LIMIT)


def _is_person(p: Principal) -> bool:
    """A person logged in (level 1+). An OAuth client acting for someone is not that person here: what
    a client may do is decided by its scopes, in the rules of the actions it calls."""
    return p.kind in PEOPLE and p.account_id is not None and p.level >= 1


def _guards(p: Principal, child: Any) -> bool:
    """`p` is the child's linked parent and the child is still under 14."""
    born = getattr(child, "birth_date", None)
    if not isinstance(born, date) or getattr(child, "guardian_id", None) != p.account_id:
        return False
    today = clock.local_today()
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return age < GUARDIANSHIP_ENDS_AT


@register("identity.account.view")
def _view_account(p: Principal, account: Any) -> bool:
    """One's own account, a child's account by its guardian, or any account by an operator at level 2."""
    if is_operator(p) and p.level >= 2:
        return True
    if not _is_person(p):
        return False
    return p.account_id == account.id or (p.kind == "citizen" and _guards(p, account))


@register("identity.account.act_for")
def _act_for(p: Principal, child: Any) -> bool:
    return _is_person(p) and p.kind == "citizen" and _guards(p, child)


@register("identity.account.manage_security")
def _manage_security(p: Principal, account: Any) -> bool:
    """Second factor, password and sessions: only the person themself."""
    return _is_person(p) and p.account_id == account.id


@register("identity.official.manage")
def _manage_officials(p: Principal, _resource: Any) -> bool:
    return is_operator(p) and p.level >= 2


@register("identity.client.manage")
def _manage_clients(p: Principal, _resource: Any) -> bool:
    return is_operator(p) and p.level >= 2


@register("identity.activation_code.issue")
def _issue_activation_code(p: Principal, _resource: Any) -> bool:
    """An in-person activation code opens an account: issued by a one-stop officer (any unit: people may
    go to any office) or an operator, after checking the identity card, at assurance level 2."""
    return p.level >= 2 and (is_operator(p) or (p.kind == "official" and p.holds("one_stop_officer")))


@register("identity.citizen.create")
def _create_citizen(p: Principal, _resource: Any) -> bool:
    """Creating an active account with a password vouches for a person: as strong a login as officials."""
    return is_operator(p) and p.level >= 2


# --- acting for a child -----------------------------------------------------------------------------


def act_for(parent: Principal, child: Any) -> Principal:
    """The parent's principal acting for `child` (an account under 14 in their care). Every audit record
    written with `audit_by` then names both people: the parent as actor, the child as on-behalf-of."""
    require(parent, "identity.account.act_for", child)
    return dataclasses.replace(parent, acting_for=child.id)


def on_behalf_of_ref(p: Principal) -> str | None:
    return f"citizen:{p.acting_for}" if p.acting_for is not None else None


def audit_by(
    p: Principal,
    *,
    action: str,
    object_type: str,
    object_id: str,
    legal_basis: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """An audit entry for what `p` did, naming the person acted for when there is one."""
    return AuditEntry(
        actor=p.ref,
        on_behalf_of=on_behalf_of_ref(p),
        action=action,
        object_type=object_type,
        object_id=object_id,
        legal_basis=legal_basis,
        details=details or {},
    )
