"""A small product API beside tenantry: sites that teams own. tenantry decides who may do
what (`require(...)` on every route); the sites themselves are the product's own data, kept
here in a dict.

    uvicorn --factory "examples.sites.app:app_from_environment"

Every route names the organisation and the owning team in its path, so that each check is
scoped to the team that owns the site. The check runs before the route: a caller refused in
the team is answered 403 whether or not the site exists; a caller allowed in the team asking
for a site of another team or organisation is answered 404, as if it did not exist.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from tenantry.client import AsyncTenantryClient
from tenantry.fastapi import Principal, add_problem_handler, require


@dataclass(frozen=True)
class Site:
    id: str
    org_id: str
    team_id: str
    name: str
    created_by: str
    published_by: str | None = None


class SiteDraft(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class SiteView(BaseModel):
    id: str
    organisation_id: str
    team_id: str
    name: str
    created_by: str
    published: bool
    published_by: str | None

    @classmethod
    def of(cls, site: Site) -> SiteView:
        return cls(
            id=site.id,
            organisation_id=site.org_id,
            team_id=site.team_id,
            name=site.name,
            created_by=site.created_by,
            published=site.published_by is not None,
            published_by=site.published_by,
        )


class Sites:
    """The product's site store: in memory, one per app."""

    def __init__(self) -> None:
        self._by_id: dict[str, Site] = {}

    def save(self, site: Site) -> None:
        self._by_id[site.id] = site

    def of_team(self, org_id: str, team_id: str) -> list[Site]:
        return [s for s in self._by_id.values() if (s.org_id, s.team_id) == (org_id, team_id)]

    def get_or_404(self, org_id: str, team_id: str, site_id: str) -> Site:
        """The site, if `team_id` of `org_id` owns it; any other site is not found."""
        site = self._by_id.get(site_id)
        if site is None or (site.org_id, site.team_id) != (org_id, team_id):
            raise HTTPException(404, f"no site {site_id} in this team")
        return site


def tenantry_of(request: Request) -> AsyncTenantryClient:
    client: AsyncTenantryClient = request.app.state.tenantry
    return client


def sites_of(request: Request) -> Sites:
    sites: Sites = request.app.state.sites
    return sites


def _in_team(permission: str) -> Callable[[Request], Awaitable[Principal]]:
    # The check every route makes: `permission` within the team of the path.
    return require(permission, client=tenantry_of, org_from="org_id", team_from="team_id")


# Module level, as FastAPI resolves a route's annotations in its module.
MayCreate = Annotated[Principal, Depends(_in_team("site:create"))]
MayUpdate = Annotated[Principal, Depends(_in_team("site:update"))]
MayPublish = Annotated[Principal, Depends(_in_team("site:publish"))]
MayRead = Annotated[Principal, Depends(_in_team("site:read"))]
SitesDep = Annotated[Sites, Depends(sites_of)]


def create_app(tenantry_url: str) -> FastAPI:
    """The product, asking the tenantry at `tenantry_url` about every request."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncTenantryClient(tenantry_url, trust_env=False) as client:
            app.state.tenantry = client
            yield

    app = FastAPI(title="Sites", lifespan=lifespan)
    app.state.sites = Sites()
    add_problem_handler(app)

    @app.post("/orgs/{org_id}/teams/{team_id}/sites", status_code=201)
    async def create_site(
        org_id: str, team_id: str, draft: SiteDraft, who: MayCreate, sites: SitesDep
    ) -> SiteView:
        site = Site(f"site_{secrets.token_hex(8)}", org_id, team_id, draft.name, who.user_id)
        sites.save(site)
        return SiteView.of(site)

    @app.get("/orgs/{org_id}/teams/{team_id}/sites")
    async def list_sites(
        org_id: str, team_id: str, who: MayRead, sites: SitesDep
    ) -> list[SiteView]:
        return [SiteView.of(site) for site in sites.of_team(org_id, team_id)]

    @app.patch("/orgs/{org_id}/teams/{team_id}/sites/{site_id}")
    async def update_site(
        org_id: str, team_id: str, site_id: str, draft: SiteDraft, who: MayUpdate, sites: SitesDep
    ) -> SiteView:
        site = replace(sites.get_or_404(org_id, team_id, site_id), name=draft.name)
        sites.save(site)
        return SiteView.of(site)

    @app.post("/orgs/{org_id}/teams/{team_id}/sites/{site_id}/publish")
    async def publish_site(
        org_id: str, team_id: str, site_id: str, who: MayPublish, sites: SitesDep
    ) -> SiteView:
        site = replace(sites.get_or_404(org_id, team_id, site_id), published_by=who.user_id)
        sites.save(site)
        return SiteView.of(site)

    return app


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory`: tenantry at `TENANTRY_URL` (default: a local one)."""
    return create_app(os.environ.get("TENANTRY_URL", "http://127.0.0.1:8000"))
