"""`require(...)`: a FastAPI dependency that lets a product route run only when tenantry
allows the bearer the permission, and hands the route who is asking (docs/fastapi-dependency.md).

Over HTTP, beside a tenantry elsewhere:

    tenantry = AsyncTenantryClient("http://tenantry:8000")
    MayPublish = Annotated[
        Principal, Depends(require("site:publish", client=tenantry, org_from="org_id"))
    ]

    @app.post("/orgs/{org_id}/sites/{site_id}/publish")
    async def publish(site_id: str, who: MayPublish) -> ...

The bearer is first verified here, as tenantry verifies it (`tokens.access_token`), against
the keys tenantry publishes at `/.well-known/jwks.json` (fetched in a worker thread, kept for
the process, one set per tenantry) and the issuer its discovery document names: a forged,
expired or mistyped token is refused 401 without a call. Then `POST /v1/authorize` decides.
`verify_locally=False` leaves the token to tenantry alone; `audience=` checks `aud` too.

In process, with tenantry mounted in the product's app (`app.mount("/tenantry",
create_app(tenantry))`), `require(..., tenantry=tenantry)` runs tenantry's `authorize` as its
route does, in a worker thread, and answers with the same `Authorization`.

The organisation comes from a path parameter (`org_from`) or, by default, the
`X-Organisation-Id` header; the team, when the check is team-scoped, from the path
parameter `team_from`. A `Tenantry-Authz-Epoch` request header is passed on as `min_epoch`,
so a caller that just changed access (and got that header back) is never answered from
older state. Nothing is decided here: every decision is tenantry's. Refusals are `Refused`
exceptions; `add_problem_handler(app)` renders them as problem+json.
"""

from tenantry.fastapi.dependency import ORGANISATION_HEADER, Principal, require
from tenantry.fastapi.local import LocalVerifier, verifier_for
from tenantry.fastapi.problems import PROBLEM_MEDIA_TYPE, Refused, add_problem_handler

__all__ = [
    "ORGANISATION_HEADER",
    "PROBLEM_MEDIA_TYPE",
    "LocalVerifier",
    "Principal",
    "Refused",
    "add_problem_handler",
    "require",
    "verifier_for",
]
