"""Liveness and readiness, for load balancers and process managers."""

from __future__ import annotations

from fastapi import APIRouter

from tenantry.http.deps import App

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(app: App) -> dict[str, str]:
    app.store.ping()
    return {"status": "ready"}
