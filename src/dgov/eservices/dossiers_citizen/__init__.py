"""The applicant's use cases: open a draft (prefilled once-only), save it, submit it idempotently,
supply what was asked for, withdraw, write to the agency, rate the service at the end.

The use cases live in modules by theme: `common` (the applicant, keys, the applicant's own dossier),
`drafts`, `submission`, `closing` (withdraw, rate), `messages` and `following` (mine, follow).
"""

from dgov.eservices.dossiers_citizen.closing import rate, withdraw
from dgov.eservices.dossiers_citizen.common import Applicant
from dgov.eservices.dossiers_citizen.drafts import (
    children_for,
    choose_child,
    draft_for_post,
    draft_or_preview,
    open_draft,
    save_draft,
)
from dgov.eservices.dossiers_citizen.following import follow, mine
from dgov.eservices.dossiers_citizen.messages import messages_of, post_message
from dgov.eservices.dossiers_citizen.submission import submit

__all__ = [
    "Applicant",
    "children_for",
    "choose_child",
    "draft_for_post",
    "draft_or_preview",
    "follow",
    "messages_of",
    "mine",
    "open_draft",
    "post_message",
    "rate",
    "save_draft",
    "submit",
    "withdraw",
]
