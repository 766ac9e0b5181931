"""Identity: citizens' and officials' accounts, login with assurance levels, sessions, roles scoped to
an agency and an administrative unit, and the OpenID Connect provider every other application uses.

Other domains import only from here.
"""

from dgov.identity.authz import ANONYMOUS, SYSTEM, Principal, RoleGrant, can, is_operator, register, require
from dgov.identity.national_id import IdNumberError, parse_id_number, validate_id_number

__all__ = [
    "ANONYMOUS",
    "SYSTEM",
    "IdNumberError",
    "Principal",
    "RoleGrant",
    "can",
    "is_operator",
    "parse_id_number",
    "register",
    "require",
    "validate_id_number",
]
