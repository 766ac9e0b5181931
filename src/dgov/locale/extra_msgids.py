"""Msgids that the code looks up at run time from data, where no extractor can see them.

Nothing imports this module: it exists so that `scripts/i18n.sh` finds these strings (through `N_`)
and keeps them in the catalogues. tests/kernel/test_i18n.py checks that every value of the tables
below is listed here, so a new entry there fails the tests until it is added here too.
(Error titles, error details and FieldError messages need no entry: the extractor finds them.)
"""

from __future__ import annotations


def N_(message: str) -> str:
    """The conventional gettext no-op marker: extracted, returned unchanged."""
    return message


# dgov.web.errors.HTTP_TITLES: titles for plain HTTP statuses.
HTTP_TITLES = (
    N_("The request cannot be processed"),
    N_("You need to log in"),
    N_("You are not allowed to do this"),
    N_("Not found"),
    N_("This method is not allowed here"),
    N_("The request conflicts with the current state"),
    N_("The upload is too large"),
    N_("This type of content is not accepted"),
    N_("Some fields are not valid"),
    N_("Too many attempts; please wait and try again"),
    N_("Something went wrong on our side"),
    N_("The service is temporarily unavailable"),
)

# dgov.web.errors._pydantic_msgid: request validation errors, by pydantic error type.
VALIDATION_MESSAGES = (
    N_("This field is required"),
    N_("This value is too short"),
    N_("This value is too long"),
    N_("Enter a whole number"),
    N_("Enter a date as YYYY-MM-DD"),
    N_("This value is not in the expected format"),
    N_("The body is not valid JSON"),
    N_("This value is not valid"),
)

# dgov.identity.roles.ROLES: role names, translated on the operator's pages.
ROLE_NAMES = (
    N_("Platform operator"),
    N_("One-stop shop officer (receives dossiers)"),
    N_("Civil status officer"),
    N_("Residence registration officer"),
    N_("Health insurance officer"),
    N_("Registry officer"),
    N_("Agency administrator"),
)

# dgov.identity.national_id.IdNumberError: its msgid reaches pages as a FieldError message, but it is
# raised as a plain ValueError subclass, which the extractor does not follow.
ID_NUMBER_ERRORS = (
    N_("A personal identification number has exactly 12 digits"),
    N_("The first three digits are not a known province or country code"),
    N_("The century digit and birth year in the number do not match the birth date"),
    N_("The sex digit in the number does not match the recorded sex"),
)

# dgov.identity.passwords.password_problems: returns msgids that account_rules wraps in FieldErrors
# from a variable, which the extractor cannot follow.
PASSWORD_PROBLEMS = (
    N_("Use at least 10 characters"),
    N_("Use at most 128 characters"),
    N_("Do not build your password from your name, ID number or birth date"),
    N_("This password is too easy to guess; use a longer phrase of unrelated words"),
)

# dgov.eservices.pages_support: FIELD_NAMES, AGENCY_NAMES, LEVEL_NAMES, STATUS_NAMES and
# REGISTRY_NAMES are plain strings that the citizen and back-office pages pass to `_()` (the
# catalogue filters, a procedure's field, agency and level, a dossier's status, the registry a
# prefilled value comes from).
ESERVICES_FIELD_NAMES = (
    N_("Civil status"),
    N_("Residence"),
    N_("Health insurance"),
    N_("Social insurance"),
    N_("Business"),
    N_("Judicial records"),
    N_("Construction"),
)
ESERVICES_AGENCY_NAMES = (
    N_("Ministry of Justice"),
    N_("Ministry of Public Security"),
    N_("Vietnam Social Security"),
    N_("Ministry of Construction"),
    N_("People's Committees"),
)
ESERVICES_LEVEL_NAMES = (
    N_("Fully online"),
    N_("Partly online"),
)
ESERVICES_STATUS_NAMES = (
    N_("Draft"),
    N_("Submitted"),
    N_("Received"),
    N_("Being processed"),
    N_("More information requested"),
    N_("Approved"),
    N_("Rejected"),
    N_("Result issued"),
    N_("Withdrawn"),
)
ESERVICES_REGISTRY_NAMES = (
    N_("National population database"),
    N_("Residence database"),
    N_("Health insurance database"),
    N_("Civil status database"),
)

# dgov.exchange.addresses._bad: FieldError messages passed through a helper (a default argument and
# literal arguments of `_bad`), which the extractor does not follow.
EXCHANGE_ADDRESS_ERRORS = (
    N_("This identifier is not in the expected format"),
    N_("Use letters, digits, dot, dash or underscore (at most 50)"),
    N_("The member class must be GOV, COM or ORG"),
)
