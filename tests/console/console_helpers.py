"""Helpers of the browser tests: sign in through the page, wait for the map, read pixels."""

from __future__ import annotations

import io
from typing import Any

import pyotp
from PIL import Image, ImageChops, ImageStat

from tests.layers.ogc_fixtures import Caller

MAP_IDLE_JS = """() => {
  const h = window.hyperviseur;
  return Boolean(h && h.map && h.map.loaded() && h.map.areTilesLoaded() && !h.map.isMoving());
}"""


def sign_in(page: Any, base: str, caller: Caller, *, path: str = "/") -> None:
    """Open ``path``, get sent to the sign-in page, sign in as ``caller`` (TOTP when the page asks)."""
    page.goto(base + path)
    page.wait_for_url("**/connexion**")
    page.fill("#username", caller.username)
    page.fill("#password", caller.password)
    page.click("#signin-submit")
    if caller.totp_uri:
        page.wait_for_selector("#totp", state="visible")
        page.fill("#totp", pyotp.parse_uri(caller.totp_uri).now())
        page.click("#signin-submit")
    page.wait_for_function("() => location.pathname !== '/connexion'")


def wait_map_idle(page: Any, timeout_ms: int = 30_000) -> None:
    page.wait_for_selector("#map[data-ready=true], #crew-map", timeout=timeout_ms)
    # Two checks one frame apart: a map that was idle then started loading again is not idle.
    page.wait_for_function(MAP_IDLE_JS, timeout=timeout_ms, polling=100)
    page.wait_for_timeout(150)
    page.wait_for_function(MAP_IDLE_JS, timeout=timeout_ms, polling=100)


def map_image(page: Any) -> Image.Image:
    return Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")


def distinct_colours(image: Image.Image) -> int:
    return len(image.getcolors(maxcolors=1 << 20) or [])


def image_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0 (same) to 255."""
    stat = ImageStat.Stat(ImageChops.difference(a, b))
    return sum(stat.mean) / len(stat.mean)
