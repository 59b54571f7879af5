"""Liveness and readiness, for load balancers and process managers."""

from __future__ import annotations

from fastapi import APIRouter

from tenantry.http.deps import App

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
def readyz(app: App) -> dict[str, str]:
    """The store answers (503 otherwise)."""
    app.store.ping()
    return {"status": "ready"}
