from dgov.identity.oidc.api import router

__all__ = ["router"]
