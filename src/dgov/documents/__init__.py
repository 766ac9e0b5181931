"""Documents: content-addressed storage, the citizen's wallet, issued PDFs signed with PAdES, verification."""
