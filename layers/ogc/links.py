"""Absolute links of the OGC API, from the configured public URL or the request's base URL."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
OPENAPI_31 = "application/vnd.oai.openapi+json;version=3.1"
SCHEMA_JSON = "application/schema+json"
OGC_PREFIX = "/ogc"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"


def site_url(request: Request, public_url: str | None) -> str:
    """The server's root URL without a trailing slash.

    ``public_url`` (``HYPERVISEUR_PUBLIC_URL``) wins: behind a reverse proxy the request's own host
    is the proxy's upstream address, which clients cannot reach.
    """
    return (public_url or str(request.base_url)).rstrip("/")


def ogc_url(request: Request, public_url: str | None, path: str = "") -> str:
    """Absolute URL of an OGC API resource, ``path`` relative to the ``/ogc`` landing page."""
    return site_url(request, public_url) + OGC_PREFIX + path


def with_query(href: str, params: dict[str, str]) -> str:
    """Append a query string; commas stay readable since bbox and properties are comma lists.

    Examples
    --------
    >>> with_query("http://h/ogc/collections/a/items", {"bbox": "1,2,3,4", "limit": "10"})
    'http://h/ogc/collections/a/items?bbox=1,2,3,4&limit=10'
    """
    return f"{href}?{urlencode(params, safe=',')}" if params else href


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    """One link object; ``type`` is always given (OGC core requires rel and type on every link)."""
    out = {"href": href, "rel": rel, "type": media_type}
    if title:
        out["title"] = title
    return out


def language(request: Request) -> str:
    """``en`` when the client prefers English (Accept-Language), else ``fr``: the console's language."""
    header = request.headers.get("accept-language", "")
    first = header.split(",", 1)[0].strip().lower()
    return "en" if first.startswith("en") else "fr"
