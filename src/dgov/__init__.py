"""dgov: an open-source digital government platform."""

import warnings as _warnings

__version__ = "0.1.0"

# pyHanko (0.38) imports cryptography's DSAPrivateKey at module level to recognise DSA signers; since
# cryptography 51 that import alone warns "DSA is deprecated". dgov never makes or accepts DSA keys
# (P-256 and Ed25519 only), so the warning tells an operator nothing. Filtered by message *and* by the
# importing module, so any other deprecation still shows. Remove when pyHanko no longer imports DSA at
# module level (tests/kernel/test_warnings.py fails then, as a reminder).
_warnings.filterwarnings(
    "ignore",
    message=r"DSA is deprecated",
    module=r"pyhanko\.",
)
