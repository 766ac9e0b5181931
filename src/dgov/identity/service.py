"""Account use cases: citizens (and their children under 14), officials, second factor, passwords.

The single name callers import; each use case lives in its own module:
`citizens` (operator-made accounts, children), `officials` (accounts and roles), `recovery` (one-time
codes: self-registration, activation, password reset), `second_factor` (TOTP enrolment), and
`account_rules` (what they share)."""

from __future__ import annotations

from dgov.identity.account_rules import CHILD_AGE_LIMIT, PHONE, TOTP_PURPOSE, age_on
from dgov.identity.citizens import add_citizen, children_of, get_account, register_child
from dgov.identity.officials import USERNAME, add_official, grant_role, roles_of
from dgov.identity.recovery import (
    MAX_CODE_ATTEMPTS,
    MAX_RESET_CODES_PER_HOUR,
    InPersonCode,
    activate,
    code_hash,
    issue_code,
    issue_in_person_code,
    register_citizen,
    request_password_reset,
    reset_password,
)
from dgov.identity.second_factor import TotpEnrolment, confirm_totp_enrolment, start_totp_enrolment

__all__ = [
    "CHILD_AGE_LIMIT",
    "MAX_CODE_ATTEMPTS",
    "MAX_RESET_CODES_PER_HOUR",
    "PHONE",
    "TOTP_PURPOSE",
    "USERNAME",
    "InPersonCode",
    "TotpEnrolment",
    "activate",
    "add_citizen",
    "add_official",
    "age_on",
    "children_of",
    "code_hash",
    "confirm_totp_enrolment",
    "get_account",
    "grant_role",
    "issue_code",
    "issue_in_person_code",
    "register_child",
    "register_citizen",
    "request_password_reset",
    "reset_password",
    "roles_of",
    "start_totp_enrolment",
]
