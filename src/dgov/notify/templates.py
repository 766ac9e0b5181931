"""Message templates: msgids translated into the recipient's language (Vietnamese by default)."""

from __future__ import annotations

from dataclasses import dataclass

from dgov.kernel.i18n import current_locale
from dgov.kernel.i18n import gettext as _


def N_(message: str) -> str:
    """Marks a msgid for extraction (`scripts/i18n.sh`); the text is translated when a message is rendered."""
    return message


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


TEMPLATES: dict[str, Template] = {
    "identity.activate": Template(
        subject=N_("Your dgov activation code"),
        body=N_("Hello {name}, your activation code is {code}. It is valid for 15 minutes. Never share it."),
    ),
    "identity.reset": Template(
        subject=N_("Your dgov password reset code"),
        body=N_(
            "Hello {name}, your password reset code is {code}. It is valid for 15 minutes. "
            "If you did not ask for it, ignore this message."
        ),
    ),
    "eservices.result_issued": Template(
        subject=N_("Dossier {code}: the result is ready"),
        body=N_("Your dossier {code} has been processed. The result is in your document wallet."),
    ),
    "eservices.rejected": Template(
        subject=N_("Dossier {code} was refused"),
        body=N_("Your dossier {code} was refused. Reason: {reason}"),
    ),
    "eservices.overdue": Template(
        subject=N_("Dossier {code} is late"),
        body=N_(
            "Processing of your dossier {code} has passed its appointment date. We apologise; the agency "
            "will tell you the new date."
        ),
    ),
    "eservices.supplement": Template(
        subject=N_("Dossier {code}: documents requested"),
        body=N_("The agency asks you to complete your dossier {code}. Reason: {reason}"),
    ),
    "eservices.confirm_requested": Template(
        subject=N_("Dossier {code} names you: your confirmation is needed"),
        body=N_(
            "{applicant} filed dossier {code} naming you. Nothing is written to your records unless you "
            "confirm: open “Xác nhận” in your account to confirm or refuse."
        ),
    ),
    "eservices.birth_registered": Template(
        subject=N_("The birth of {child} is registered"),
        body=N_(
            "The birth of {child} is registered (dossier {code}). "
            "Personal identification number: {id_number}. "
            "The child is added to the household and has a health insurance card; the signed birth "
            "certificate is in your document wallet."
        ),
    ),
}


def render(template: str, params: dict[str, str], *, locale: str = "vi") -> tuple[str, str]:
    t = TEMPLATES[template]
    token = current_locale.set(locale)
    try:
        return _(t.subject, **params), _(t.body, **params)
    finally:
        current_locale.reset(token)
