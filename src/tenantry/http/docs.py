"""The API's reference pages: Swagger UI at /docs and ReDoc at /redoc.

Their scripts and styles come from the installed `fastapi-offline` package (no CDN, so nothing
to pin with integrity hashes), and the pages hold no inline script, so the docs' strict
Content-Security-Policy (http/middleware.py) lets them run.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS_PATH = "/docs/assets"
_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

_SWAGGER_UI = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{root}/docs/swagger-ui-init.js" data-openapi-url="{openapi}"></script>
</body>
</html>
"""

_SWAGGER_UI_INIT = """"use strict";
window.ui = SwaggerUIBundle({
  url: document.currentScript.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""

_REDOC = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


class _Assets(StaticFiles):
    """The package's files, revalidated by ETag instead of stored for good: an upgrade of the
    package changes them under the same names."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["cache-control"] = "no-cache"
        return response


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets; `app.openapi_url` must be set."""
    openapi_url = app.openapi_url
    assert openapi_url is not None, "the docs need the OpenAPI document"

    def page(template: str, request: Request) -> HTMLResponse:
        root = escape(request.scope.get("root_path", ""))
        return HTMLResponse(
            template.format(
                title=escape(app.title),
                root=root,
                assets=root + ASSETS_PATH,
                openapi=root + escape(openapi_url),
            )
        )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        return page(_SWAGGER_UI, request)

    @app.get("/docs/swagger-ui-init.js", include_in_schema=False)
    def swagger_ui_init() -> Response:
        return Response(_SWAGGER_UI_INIT, media_type="text/javascript")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return page(_REDOC, request)

    app.mount(ASSETS_PATH, _Assets(directory=_ASSETS_DIR), name="docs-assets")
