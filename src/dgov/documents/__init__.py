"""Documents: content-addressed storage, the citizen's wallet, issued PDFs signed with PAdES, verification.

Other domains import only from here. Typical calls:

    ctx = documents_context(settings, db)           # once per process (web: `dgov.documents.api.ctx_of`)
    issued = await store_issued(ctx, SYSTEM, template_name="birth-certificate", data=…,
                                holders=[father_id, mother_id], dossier_code=code)
    att = await attach_from_wallet(ctx, citizen, holder=Holder(id_number, account_id),
                                   code=document_code, dossier_code=code)
"""

from dgov.documents.rules import DocumentAccess, Holder
from dgov.documents.service import (
    AttachedDocument,
    DocumentInfo,
    DocumentsContext,
    IssuedDocument,
    Verification,
    WalletItem,
    attach_from_wallet,
    attachments_of,
    lookup,
    read,
    revoke_document,
    store_issued,
    upload,
    verify,
    wallet_items,
)
from dgov.documents.service import context as documents_context
from dgov.documents.templates_catalog import Template, catalog, template

__all__ = [
    "AttachedDocument",
    "DocumentAccess",
    "DocumentInfo",
    "DocumentsContext",
    "Holder",
    "IssuedDocument",
    "Template",
    "Verification",
    "WalletItem",
    "attach_from_wallet",
    "attachments_of",
    "catalog",
    "documents_context",
    "lookup",
    "read",
    "revoke_document",
    "store_issued",
    "template",
    "upload",
    "verify",
    "wallet_items",
]
