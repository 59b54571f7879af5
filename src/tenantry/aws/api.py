"""`tenantry.aws.api.handler`: tenantry's HTTP API on Lambda, behind API Gateway (REST or HTTP
API) or a function URL, through Mangum. The app is the one `tenantry serve` runs, without its
background threads: on Lambda the scheduled `tenantry.aws.outbox.handler` sends the email and
starts the jobs a dead invocation left pending."""

from __future__ import annotations

from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from tenantry.bootstrap import bootstrap, prepare_to_serve
from tenantry.http.app import create_app
from tenantry.http.errors import PROBLEM_MEDIA_TYPE
from tenantry.logging import configure_logging
from tenantry.settings import Settings


def from_environment() -> Mangum:
    """The ASGI adapter a container builds once, from its environment."""
    settings = Settings()
    configure_logging(as_json=True)
    tenantry = bootstrap(settings)
    prepare_to_serve(tenantry)  # the signing keys exist before the first token is issued
    # No lifespan: the app starts no threads here, and a frozen container must not hold any.
    return Mangum(
        create_app(tenantry, run_dispatcher=False),
        lifespan="off",
        # Problems are text too: sent as they are, not base64 (what Mangum does to a type it
        # does not know).
        text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, PROBLEM_MEDIA_TYPE],
    )


_warm: Mangum | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`tenantry.aws.api.handler`)."""
    global _warm  # the warm container's one app, built on first use
    if _warm is None:
        _warm = from_environment()
    answer: dict[str, Any] = _warm(event, context)
    return answer
