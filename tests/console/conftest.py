"""Fixtures of the console tests: the built front end, a live server on Monaco, Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.common import PROJECT_ROOT, missing

FRONTEND = PROJECT_ROOT / "frontend"
DIST = FRONTEND / "dist"
CHROMIUM = Path("/usr/bin/chromium")
# Screenshots of the main views land here (gitignored); HYPERVISEUR_UPDATE_DOC_IMAGES=1 also refreshes the
# committed copies under docs/images/console/.
OUTPUT_DIR = PROJECT_ROOT / "test-output" / "console"
DOC_IMAGES = PROJECT_ROOT / "docs" / "images" / "console"
_SOURCES = ("src", "public", "index.html", "vite.config.ts", "package-lock.json", "tsconfig.json")


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = FRONTEND / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        newest = max([newest, *(p.stat().st_mtime for p in files)])
    return newest


def ensure_console_built() -> Path:
    """Build ``frontend/dist`` unless it is newer than every source (what ``make frontend`` does)."""
    index = DIST / "index.html"
    if index.is_file() and index.stat().st_mtime >= _newest_source_mtime():
        return DIST
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is not installed: the console cannot be built (Node.js 20 + npm)")
    if not (FRONTEND / "node_modules" / ".bin" / "vite").exists():
        subprocess.run([npm, "ci", "--prefix", str(FRONTEND), "--no-audit", "--no-fund"], check=True)
    subprocess.run([npm, "--prefix", str(FRONTEND), "run", "build"], check=True, capture_output=True)
    return DIST


@pytest.fixture(scope="session")
def console_dist() -> Path:
    return ensure_console_built()


# Package scope: Playwright's sync API keeps an event loop running in the main thread while it is open, which
# would break later tests that call asyncio.run().
@pytest.fixture(scope="package")
def chromium() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never a downloaded browser); WebGL2 works headless."""
    if not CHROMIUM.exists():
        missing("Chromium is not installed (/usr/bin/chromium): run make bootstrap")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox"],
        )
        yield browser
        browser.close()


def save_screenshot(name: str, png: bytes) -> Path:
    """Keep a screenshot under test-output/console/; refresh docs/images/console/ when asked."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUTPUT_DIR / name
    path.write_bytes(png)
    if os.environ.get("HYPERVISEUR_UPDATE_DOC_IMAGES") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        (DOC_IMAGES / name).write_bytes(png)
    return path
