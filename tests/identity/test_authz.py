"""Authorisation: every principal against every identity action, with the expected answer written out.

The table is the specification: a new `identity.*` action fails `test_the_table_covers_every_identity_action`
until someone decides, row by row, who may do it.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest

import dgov.identity
from dgov.identity.authz import ANONYMOUS, SYSTEM, Principal, RoleGrant, actions, can, require
from dgov.identity.roles import ROLES
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Forbidden, Unauthenticated

# Every identity module, so that every action registered anywhere in the domain is in `actions()`.
for _info in pkgutil.walk_packages(dgov.identity.__path__, "dgov.identity."):
    importlib.import_module(_info.name)

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
SELF, OTHER, PARENT, OFFICIAL, OPERATOR = (uuid.uuid4() for _ in range(5))


@dataclass(frozen=True)
class Acct:
    """What the rules look at on an account (the model's attribute names)."""

    id: uuid.UUID
    guardian_id: uuid.UUID | None = None
    birth_date: date | None = None


ACCOUNT = Acct(SELF, birth_date=date(1990, 3, 15))  # a citizen's own account
CHILD = Acct(uuid.uuid4(), guardian_id=PARENT, birth_date=date(2016, 9, 1))  # PARENT's child, 9 years old
GROWN = Acct(uuid.uuid4(), guardian_id=PARENT, birth_date=date(2012, 3, 2))  # linked once, 14 today

# column → (action, resource)
COLUMNS: dict[str, tuple[str, Any]] = {
    "view self": ("identity.account.view", ACCOUNT),
    "view child": ("identity.account.view", CHILD),
    "view grown": ("identity.account.view", GROWN),
    "act_for child": ("identity.account.act_for", CHILD),
    "act_for grown": ("identity.account.act_for", GROWN),
    "act_for self": ("identity.account.act_for", ACCOUNT),
    "security self": ("identity.account.manage_security", ACCOUNT),
    "security child": ("identity.account.manage_security", CHILD),
    "officials": ("identity.official.manage", None),
    "clients": ("identity.client.manage", None),
    "new citizen": ("identity.citizen.create", None),
    "signing key": ("identity.signing_key.rotate", None),
    "activation code": ("identity.activation_code.issue", None),
}


def official(role: str, level: int = 2) -> Principal:
    return Principal(kind="official", account_id=OFFICIAL, level=level, roles=(RoleGrant("BTP", role, "*"),))


PRINCIPALS: dict[str, Principal] = {
    "anonymous": ANONYMOUS,
    "citizen self": Principal(kind="citizen", account_id=SELF, level=1),
    "citizen self, level 2": Principal(kind="citizen", account_id=SELF, level=2),
    "citizen self, pending": Principal(kind="citizen", account_id=SELF, level=0),
    "citizen other": Principal(kind="citizen", account_id=OTHER, level=2),
    "guardian": Principal(kind="citizen", account_id=PARENT, level=1),
    **{f"official {role}": official(role) for role in ROLES if role != "operator"},
    "official holding operator, level 1": official("operator", level=1),
    "official holding operator, level 2": official("operator"),
    "operator level 1": Principal(
        kind="operator", account_id=OPERATOR, level=1, roles=(RoleGrant("DGOV", "operator", "*"),)
    ),
    "operator level 2": Principal(
        kind="operator", account_id=OPERATOR, level=2, roles=(RoleGrant("DGOV", "operator", "*"),)
    ),
    # An OAuth client holding a token of SELF's is not SELF: what it may do is a matter of its scopes.
    "client for self": Principal(
        kind="client", account_id=SELF, level=2, client_id="app", scopes=frozenset({"openid"})
    ),
    "system": SYSTEM,
}

# Y = allowed, . = refused. Columns in the order of COLUMNS.
#                                     view         act_for       security  offic clien citiz key   code
#                                     self chld grwn chld grwn self self chld
TABLE = """
anonymous                             .    .    .    .    .    .    .    .    .    .    .    .    .
citizen self                          Y    .    .    .    .    .    Y    .    .    .    .    .    .
citizen self, level 2                 Y    .    .    .    .    .    Y    .    .    .    .    .    .
citizen self, pending                 .    .    .    .    .    .    .    .    .    .    .    .    .
citizen other                         .    .    .    .    .    .    .    .    .    .    .    .    .
guardian                              .    Y    .    Y    .    .    .    .    .    .    .    .    .
official one_stop_officer             .    .    .    .    .    .    .    .    .    .    .    .    Y
official civil_status_officer         .    .    .    .    .    .    .    .    .    .    .    .    .
official residence_officer            .    .    .    .    .    .    .    .    .    .    .    .    .
official insurance_officer            .    .    .    .    .    .    .    .    .    .    .    .    .
official registry_officer             .    .    .    .    .    .    .    .    .    .    .    .    .
official agency_admin                 .    .    .    .    .    .    .    .    .    .    .    .    .
official holding operator, level 1    .    .    .    .    .    .    .    .    .    .    .    .    .
official holding operator, level 2    Y    Y    Y    .    .    .    .    .    Y    Y    Y    Y    Y
operator level 1                      .    .    .    .    .    .    .    .    .    .    .    .    .
operator level 2                      Y    Y    Y    .    .    .    .    .    Y    Y    Y    Y    Y
client for self                       .    .    .    .    .    .    .    .    .    .    .    .    .
system                                Y    Y    Y    Y    Y    Y    Y    Y    Y    Y    Y    Y    Y
"""


def expected() -> dict[str, dict[str, bool]]:
    out: dict[str, dict[str, bool]] = {}
    for line in TABLE.strip().splitlines():
        words = line.split()
        marks = words[-len(COLUMNS) :]
        name = " ".join(words[: -len(COLUMNS)])
        assert set(marks) <= {"Y", "."}, line
        out[name] = {column: mark == "Y" for column, mark in zip(COLUMNS, marks, strict=True)}
    return out


EXPECTED = expected()
CELLS = [(p, c) for p in PRINCIPALS for c in COLUMNS]


@pytest.fixture(autouse=True)
def frozen() -> Any:
    previous = clock.set_clock(FrozenClock(NOW))
    yield
    clock.set_clock(previous)


def test_the_table_has_a_row_per_principal_and_every_role() -> None:
    assert list(EXPECTED) == list(PRINCIPALS)


def test_the_table_covers_every_identity_action() -> None:
    registered = {a for a in actions() if a.startswith("identity.")}
    covered = {action for action, _resource in COLUMNS.values()}
    assert registered == covered, f"decide who may do {sorted(registered - covered)} and add a column"


@pytest.mark.parametrize(("principal", "column"), CELLS, ids=[f"{p} / {c}" for p, c in CELLS])
def test_matrix(principal: str, column: str) -> None:
    action, resource = COLUMNS[column]
    p = PRINCIPALS[principal]
    allowed = EXPECTED[principal][column]
    assert can(p, action, resource) is allowed
    if allowed:
        require(p, action, resource)
    else:
        with pytest.raises(Forbidden if p.authenticated else Unauthenticated):
            require(p, action, resource)


def test_guardianship_of_a_child_ends_on_the_14th_birthday() -> None:
    guardian = PRINCIPALS["guardian"]
    child = Acct(uuid.uuid4(), guardian_id=PARENT, birth_date=date(2012, 3, 3))  # 14 tomorrow
    assert can(guardian, "identity.account.act_for", child)
    clock.set_clock(FrozenClock(datetime(2026, 3, 3, 0, 0, tzinfo=UTC)))
    assert not can(guardian, "identity.account.act_for", child)
    assert not can(guardian, "identity.account.view", child)


def test_an_account_without_a_birth_date_has_no_guardian_acting_for_it() -> None:
    assert not can(PRINCIPALS["guardian"], "identity.account.act_for", Acct(uuid.uuid4(), guardian_id=PARENT))


@pytest.mark.parametrize("action", ["identity.account.vew", "", "identity.*", "IDENTITY.ACCOUNT.VIEW"])
def test_an_unknown_action_raises_instead_of_answering(action: str) -> None:
    for p in (ANONYMOUS, SYSTEM, PRINCIPALS["operator level 2"]):
        with pytest.raises(KeyError):
            can(p, action, ACCOUNT)
        with pytest.raises(KeyError):
            require(p, action, ACCOUNT)


# --- Principal -------------------------------------------------------------------------------------

GRANTS = Principal(
    kind="official",
    account_id=OFFICIAL,
    level=2,
    roles=(RoleGrant("BTP", "civil_status_officer", "00004"), RoleGrant("BCA", "residence_officer", "*")),
)


@pytest.mark.parametrize(
    ("role", "agency", "unit", "holds"),
    [
        ("civil_status_officer", None, None, True),
        ("civil_status_officer", "BTP", None, True),
        ("civil_status_officer", "BTP", "00004", True),
        ("civil_status_officer", None, "00004", True),
        ("civil_status_officer", "BTP", "00007", False),  # another commune
        ("civil_status_officer", "BTP", "01", False),  # a commune role is not a province role
        ("civil_status_officer", "BTP", "*", False),  # nor a nationwide one
        ("civil_status_officer", "BCA", "00004", False),  # another agency
        ("residence_officer", "BCA", "00004", True),  # nationwide covers every unit
        ("residence_officer", "BCA", "79", True),
        ("residence_officer", "BCA", "*", True),
        ("residence_officer", "BTP", "00004", False),
        ("operator", None, None, False),
        ("insurance_officer", None, "00004", False),
    ],
)
def test_holds(role: str, agency: str | None, unit: str | None, holds: bool) -> None:
    assert GRANTS.holds(role, agency=agency, unit=unit) is holds


def test_nobody_without_grants_holds_anything() -> None:
    for p in (ANONYMOUS, SYSTEM, PRINCIPALS["citizen self"]):
        assert not any(p.holds(role) for role in ROLES)


def test_how_the_audit_chain_names_principals() -> None:
    assert ANONYMOUS.ref == "anonymous"
    assert SYSTEM.ref == "system"
    assert PRINCIPALS["citizen self"].ref == f"citizen:{SELF}"
    assert PRINCIPALS["operator level 2"].ref == f"operator:{OPERATOR}"
    assert PRINCIPALS["client for self"].ref == "client:app"
    assert not ANONYMOUS.authenticated and SYSTEM.authenticated
