"""The interactive API docs (Swagger UI) served entirely from our own origin: no CDN, no inline script.

FastAPI's page loads Swagger UI from a CDN and starts it with an inline script; both are refused by our
Content-Security-Policy (and the CDN by the sovereignty rule). This page loads the Swagger UI 5 files that
the ``fastapi-offline`` package ships, and a small start-up script of ours, all from ``/api/docs/assets``.
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PREFIX = "/assets/"

# validatorUrl null: Swagger UI would otherwise send our spec's URL to validator.swagger.io.
_INIT_JS = b"""window.addEventListener("DOMContentLoaded", function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.dataset.openapiUrl,
    domNode: node,
    validatorUrl: null,
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
  });
});
"""
_ASSETS: dict[str, tuple[str, str | None]] = {
    # name -> (media type, file in ASSETS_DIR; None = the start-up script above)
    "swagger-ui-bundle.js": ("text/javascript; charset=utf-8", "swagger-ui-bundle.js"),
    "swagger-ui.css": ("text/css; charset=utf-8", "swagger-ui.css"),
    "favicon.png": ("image/png", "favicon.png"),
    "init.js": ("text/javascript; charset=utf-8", None),
}


def _asset_bytes(name: str) -> bytes:
    file = _ASSETS[name][1]
    return _INIT_JS if file is None else (ASSETS_DIR / file).read_bytes()


def docs_html(*, title: str, openapi_url: str, assets_url: str) -> str:
    """The docs page: one stylesheet and two scripts, all under ``assets_url``; no inline script or style."""
    t, o, a = html.escape(title), html.escape(openapi_url), html.escape(assets_url)
    return f"""<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<link rel="icon" type="image/png" href="{a}favicon.png">
<link rel="stylesheet" href="{a}swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{o}"></div>
<script src="{a}swagger-ui-bundle.js"></script>
<script src="{a}init.js"></script>
</body>
</html>
"""


def install_api_docs(app: FastAPI) -> None:
    """Replace FastAPI's CDN-based ``docs_url`` page (and its OAuth2 redirect page) with ours."""
    docs_url, openapi_url = app.docs_url, app.openapi_url
    if not docs_url or not openapi_url:
        return
    replaced = {docs_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in replaced]
    assets_path = docs_url.rstrip("/") + ASSETS_PREFIX
    cache: dict[str, bytes] = {}

    async def docs_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = docs_html(
            title=f"{app.title} — API", openapi_url=root + openapi_url, assets_url=root + assets_path
        )
        return HTMLResponse(page, headers={"cache-control": "no-cache"})

    async def docs_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            return Response(status_code=404)
        if name not in cache:
            cache[name] = _asset_bytes(name)
        return Response(
            cache[name], media_type=_ASSETS[name][0], headers={"cache-control": "public, max-age=86400"}
        )

    app.router.routes.append(Route(docs_url, docs_page, methods=["GET"], include_in_schema=False))
    app.router.routes.append(
        Route(assets_path + "{name}", docs_asset, methods=["GET"], include_in_schema=False)
    )
