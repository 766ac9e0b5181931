"""The OpenID Connect provider: every other application logs people in through it.

Built on Authlib's framework-independent OAuth 2 / OpenID Connect server (server.py) with a thin
Starlette adapter (api.py). Layout: storage.py (the per-call store and adapters over identity's
tables), grants.py (code + PKCE + OIDC, refresh rotation, client credentials), authorize.py (login,
step-up and consent decisions), claims.py (pairwise subjects, scopes → claims), keys.py (signing keys,
JWKS, rotation).
"""

from dgov.identity.oidc.claims import LEVEL1, LEVEL2, pairwise_sub
from dgov.identity.oidc.keys import rotate_signing_key

__all__ = ["LEVEL1", "LEVEL2", "pairwise_sub", "rotate_signing_key"]
