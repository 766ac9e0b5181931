"""Identity: citizens' and officials' accounts, login with assurance levels, sessions, roles scoped to
an agency and an administrative unit, and the OpenID Connect provider every other application uses.

Other domains import only from here.
"""

from typing import TYPE_CHECKING, Any

from dgov.identity.authz import (
    ANONYMOUS,
    SYSTEM,
    Principal,
    RoleGrant,
    act_for,
    audit_by,
    can,
    is_operator,
    register,
    require,
)
from dgov.identity.bearer import BearerAccess, bearer_access
from dgov.identity.directory import OfficialEntry, official_names, officials_holding
from dgov.identity.national_id import IdNumberError, parse_id_number, validate_id_number

__all__ = [
    "ANONYMOUS",
    "SYSTEM",
    "BearerAccess",
    "IdNumberError",
    "OfficialEntry",
    "Principal",
    "RoleGrant",
    "act_for",
    "audit_by",
    "bearer_access",
    "can",
    "current_login",
    "current_principal",
    "is_operator",
    "official_names",
    "officials_holding",
    "parse_id_number",
    "register",
    "require",
    "validate_id_number",
]

from dgov.identity.context import PersonOnFile, PersonVerifier, set_verifier_factory

__all__ += ["PersonOnFile", "PersonVerifier", "set_verifier_factory"]

# The request dependencies need FastAPI, which a command-line process (`dgov registries get`, imported
# through this package by every domain) must not pay for: they are imported on first use (PEP 562).
if TYPE_CHECKING:
    from dgov.identity.deps import current_login, current_principal

_WEB_ONLY = frozenset({"current_login", "current_principal"})


def __getattr__(name: str) -> Any:
    if name in _WEB_ONLY:
        from dgov.identity import deps

        return getattr(deps, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
