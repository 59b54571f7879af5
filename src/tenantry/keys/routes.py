"""Discovery, JWKS and health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tenantry.http.deps import App

router = APIRouter(tags=["discovery"])


@router.get("/.well-known/jwks.json", summary="The public signing keys (JWKS)")
def jwks(app: App) -> dict[str, Any]:
    """Every key that may have signed a live access token, and the next one."""
    return dict(app.signer.public_jwks())


@router.get("/.well-known/openid-configuration", summary="Discovery document")
def openid_configuration(app: App) -> dict[str, Any]:
    """Issuer, JWKS URL and the algorithms in the key ring."""
    issuer = app.settings.token_issuer
    base = app.settings.resolved_public_url()
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/v1/auth/login",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": app.signer.published_algorithms(),
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "sid",
            "org_id",
            "org_role",
        ],
    }
