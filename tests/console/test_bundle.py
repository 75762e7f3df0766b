"""The built console references no other origin: no CDN, web font, tile, script or style from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

from tests.console.conftest import DIST

URL = re.compile(r"""(?:https?|wss?)://[^\s"'`<>()\\]+""")
# URLs that are in the bundle but never fetched, each with its reason. A new URL fails the test: check it
# and, only if it is never loaded, add it here.
NEVER_FETCHED = {
    "http://www.w3.org/2000/svg": "XML namespace of SVG elements (createElementNS)",
    "http://www.w3.org/1999/xhtml": "XML namespace",
    "http://www.w3.org/1999/xlink": "XML namespace",
    "https://maplibre.invalid/": "base for parsing relative URLs (.invalid never resolves, RFC 2606)",
    "https://maplibre.org/": "link of MapLibre's default attribution and logo, both replaced/off in the console",
    "https://github.com/mapbox/mapbox-gl-js/issues/2907": "text of a console warning",
    "https://wiki.openstreetmap.org/wiki/This_map_requires_WebGL": "text of the no-WebGL error message",
    "https://deck.gl/docs/api-reference/mapbox/overview#compatibility": "text of a console warning",
}
_COMMENT_LINE = re.compile(r"^\s*(//|\*|/\*)")


def _in_comment(text: str, start: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    if _COMMENT_LINE.match(text[line_start:start]):
        return True
    # A licence banner: /** … @license … https://… */
    opening = text.rfind("/*", 0, start)
    return opening != -1 and text.find("*/", opening) > start and "@license" in text[opening:start]


def external_urls(dist: Path) -> dict[str, set[str]]:
    """Every absolute URL in the built files that is not in a comment nor in NEVER_FETCHED, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted(dist.rglob("*")):
        if not path.is_file() or path.suffix not in {".js", ".mjs", ".css", ".html", ".svg", ".json"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in URL.finditer(text):
            url = match.group(0).rstrip(".,;")
            if url in NEVER_FETCHED or _in_comment(text, match.start()):
                continue
            found.setdefault(str(path.relative_to(dist)), set()).add(url)
    return found


def test_the_bundle_fetches_nothing_from_another_origin(console_dist: Path) -> None:
    assert (console_dist / "index.html").is_file()
    assert external_urls(console_dist) == {}


def test_the_page_loads_only_same_origin_files(console_dist: Path) -> None:
    html = (console_dist / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    # No inline script or style for the CSP (script-src 'self', style-src 'self') to refuse.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html


def test_the_checker_catches_a_cdn(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text(
        'const w="https://unpkg.com/x.js";\n// https://docs.example/in-a-comment\n'
        'const ns="http://www.w3.org/2000/svg";\n/** @license see https://example.org/LICENSE */\n'
    )
    assert external_urls(tmp_path) == {"a.js": {"https://unpkg.com/x.js"}}
    assert DIST.name == "dist"
