"""The map's sprite sheet (pictograms for critical sites, lights, sensors, water assets), drawn by us with Pillow.

MapLibre reads a sprite as a PNG and a JSON index of the images it holds (``sprite.png``/``sprite.json`` at
pixel ratio 1, ``sprite@2x.*`` at 2). Every pictogram is drawn at 8 times its 1x size then reduced, so both
ratios come from the same drawing and the @2x index is exactly the 1x index doubled.

Icons are simple shapes on a coloured disc with a white ring and a dark outline, so that they stay readable on
light streets, dark buildings and aerial imagery alike.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from PIL import Image, ImageDraw

OUTLINE = (31, 41, 51, 255)
WHITE = (255, 255, 255, 255)
_DRAW_SCALE = 8  # drawn at 8× the 1x size: 4× supersampling even for @2x
_PADDING = 2  # 1x pixels between images, so that linear filtering never bleeds a neighbour in
_SHEET_WIDTH = 128

Colour = tuple[int, int, int, int]
Painter = Callable[[ImageDraw.ImageDraw, float], None]


def _hex(code: str) -> Colour:
    return (int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16), 255)


@dataclass(frozen=True)
class Icon:
    """One image of the sheet: its size in 1x pixels and how to paint it on an ``s``-pixel square canvas."""

    name: str
    width: int
    height: int
    paint: Painter


def _scaled(s: float, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x * s, y * s) for x, y in points]


def _box(s: float, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    return (x0 * s, y0 * s, x1 * s, y1 * s)


def _disc(d: ImageDraw.ImageDraw, s: float, cx: float, cy: float, r: float, fill: Colour) -> None:
    d.ellipse(_box(s, cx - r, cy - r, cx + r, cy + r), fill=fill)


def _badge(d: ImageDraw.ImageDraw, s: float, fill: Colour, ring: Colour = WHITE) -> None:
    d.ellipse(_box(s, 0.0, 0.0, 1.0, 1.0), fill=OUTLINE)
    d.ellipse(_box(s, 0.05, 0.05, 0.95, 0.95), fill=ring)
    d.ellipse(_box(s, 0.12, 0.12, 0.88, 0.88), fill=fill)


def _cross(d: ImageDraw.ImageDraw, s: float, fill: Colour, half: float = 0.22, arm: float = 0.075) -> None:
    d.rectangle(_box(s, 0.5 - half, 0.5 - arm, 0.5 + half, 0.5 + arm), fill=fill)
    d.rectangle(_box(s, 0.5 - arm, 0.5 - half, 0.5 + arm, 0.5 + half), fill=fill)


def _site(colour: str, pictogram: Callable[[ImageDraw.ImageDraw, float, Colour], None]) -> Painter:
    fill = _hex(colour)

    def paint(d: ImageDraw.ImageDraw, s: float) -> None:
        _badge(d, s, fill)
        pictogram(d, s, fill)

    return paint


def _hospital(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    _cross(d, s, WHITE)


def _clinic(d: ImageDraw.ImageDraw, s: float, fill: Colour) -> None:
    # A smaller cross in a ring: a care centre without emergencies, told apart from the hospital at a glance.
    _disc(d, s, 0.5, 0.5, 0.26, WHITE)
    _disc(d, s, 0.5, 0.5, 0.2, fill)
    _cross(d, s, WHITE, half=0.14, arm=0.05)


def _pharmacy(d: ImageDraw.ImageDraw, s: float, fill: Colour) -> None:
    d.ellipse(_box(s, 0.12, 0.12, 0.88, 0.88), fill=WHITE)
    _cross(d, s, fill, half=0.24, arm=0.085)


def _school(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    d.polygon(_scaled(s, [(0.24, 0.33), (0.48, 0.38), (0.48, 0.7), (0.24, 0.65)]), fill=WHITE)
    d.polygon(_scaled(s, [(0.76, 0.33), (0.52, 0.38), (0.52, 0.7), (0.76, 0.65)]), fill=WHITE)


def _kindergarten(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    for box in ((0.27, 0.51, 0.49, 0.72), (0.51, 0.51, 0.73, 0.72), (0.39, 0.28, 0.61, 0.49)):
        d.rectangle(_box(s, *box), fill=WHITE)


def _nursing_home(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    _disc(d, s, 0.4, 0.43, 0.115, WHITE)
    _disc(d, s, 0.6, 0.43, 0.115, WHITE)
    d.polygon(_scaled(s, [(0.292, 0.47), (0.708, 0.47), (0.5, 0.72)]), fill=WHITE)


def _fire_station(d: ImageDraw.ImageDraw, s: float, fill: Colour) -> None:
    # Two tongues and a hollow core: a flame, not the water works' drop.
    flame = [
        (0.47, 0.2),
        (0.6, 0.38),
        (0.66, 0.3),
        (0.71, 0.5),
        (0.68, 0.65),
        (0.6, 0.74),
        (0.5, 0.77),
        (0.4, 0.74),
        (0.32, 0.65),
        (0.29, 0.5),
        (0.35, 0.38),
        (0.41, 0.46),
    ]
    d.polygon(_scaled(s, flame), fill=WHITE)
    _disc(d, s, 0.5, 0.64, 0.08, fill)


def _police(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    shield = [(0.5, 0.23), (0.72, 0.31), (0.7, 0.52), (0.5, 0.76), (0.3, 0.52), (0.28, 0.31)]
    d.polygon(_scaled(s, shield), fill=WHITE)


def _town_hall(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    d.polygon(_scaled(s, [(0.23, 0.41), (0.5, 0.24), (0.77, 0.41)]), fill=WHITE)
    for x in (0.29, 0.45, 0.61):
        d.rectangle(_box(s, x, 0.44, x + 0.1, 0.64), fill=WHITE)
    d.rectangle(_box(s, 0.23, 0.67, 0.77, 0.75), fill=WHITE)


def _water_works(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    _disc(d, s, 0.5, 0.58, 0.165, WHITE)
    d.polygon(_scaled(s, [(0.35, 0.53), (0.5, 0.23), (0.65, 0.53)]), fill=WHITE)


def _shelter(d: ImageDraw.ImageDraw, s: float, fill: Colour) -> None:
    d.polygon(_scaled(s, [(0.22, 0.49), (0.5, 0.25), (0.78, 0.49)]), fill=WHITE)
    d.rectangle(_box(s, 0.31, 0.49, 0.69, 0.73), fill=WHITE)
    d.rectangle(_box(s, 0.45, 0.58, 0.55, 0.73), fill=fill)


def _power_substation(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    bolt = [(0.57, 0.2), (0.31, 0.55), (0.47, 0.55), (0.41, 0.8), (0.69, 0.43), (0.53, 0.43)]
    d.polygon(_scaled(s, bolt), fill=OUTLINE)


def _other(d: ImageDraw.ImageDraw, s: float, _: Colour) -> None:
    _disc(d, s, 0.5, 0.5, 0.13, WHITE)


def _street_light(d: ImageDraw.ImageDraw, s: float) -> None:
    _disc(d, s, 0.5, 0.5, 0.5, OUTLINE)
    _disc(d, s, 0.5, 0.5, 0.38, _hex("#ffd54f"))
    _disc(d, s, 0.42, 0.42, 0.12, (255, 248, 225, 255))


def _sensor(d: ImageDraw.ImageDraw, s: float) -> None:
    _badge(d, s, _hex("#00897b"))
    _disc(d, s, 0.5, 0.64, 0.07, WHITE)
    for r in (0.19, 0.31):
        d.arc(
            _box(s, 0.5 - r, 0.64 - r, 0.5 + r, 0.64 + r), 225, 315, fill=WHITE, width=max(1, round(0.07 * s))
        )


WATER = _hex("#0277bd")


def _valve(d: ImageDraw.ImageDraw, s: float) -> None:
    _badge(d, s, WHITE, ring=WATER)
    d.polygon(_scaled(s, [(0.24, 0.3), (0.5, 0.5), (0.24, 0.7)]), fill=WATER)
    d.polygon(_scaled(s, [(0.76, 0.3), (0.5, 0.5), (0.76, 0.7)]), fill=WATER)


def _pump(d: ImageDraw.ImageDraw, s: float) -> None:
    _badge(d, s, WHITE, ring=WATER)
    d.polygon(_scaled(s, [(0.36, 0.28), (0.74, 0.5), (0.36, 0.72)]), fill=WATER)


def _tank(d: ImageDraw.ImageDraw, s: float) -> None:
    d.rounded_rectangle(_box(s, 0.08, 0.04, 0.92, 0.96), radius=0.2 * s, fill=OUTLINE)
    d.rounded_rectangle(_box(s, 0.15, 0.11, 0.85, 0.89), radius=0.15 * s, fill=WHITE)
    d.rounded_rectangle(_box(s, 0.15, 0.45, 0.85, 0.89), radius=0.15 * s, fill=WATER)
    d.rectangle(_box(s, 0.15, 0.45, 0.85, 0.6), fill=WATER)


def _reservoir(d: ImageDraw.ImageDraw, s: float) -> None:
    d.polygon(_scaled(s, [(0.02, 0.2), (0.98, 0.2), (0.8, 0.84), (0.2, 0.84)]), fill=OUTLINE)
    d.polygon(_scaled(s, [(0.13, 0.28), (0.87, 0.28), (0.74, 0.76), (0.26, 0.76)]), fill=WHITE)
    d.polygon(_scaled(s, [(0.17, 0.42), (0.83, 0.42), (0.74, 0.76), (0.26, 0.76)]), fill=WATER)


def _oneway(d: ImageDraw.ImageDraw, s: float) -> None:
    # Points along +x: MapLibre turns a line-placed icon to the line's drawing direction (the arc's direction).
    d.rectangle(_box(s, 0.08, 0.42, 0.6, 0.58), fill=(69, 90, 100, 255))
    d.polygon(_scaled(s, [(0.52, 0.23), (0.94, 0.5), (0.52, 0.77)]), fill=(69, 90, 100, 255))


# Critical-site kinds (twin.critical_sites.kind) and their disc colour; ``other`` covers any unknown kind.
SITE_COLOURS: dict[str, tuple[str, Callable[[ImageDraw.ImageDraw, float, Colour], None]]] = {
    "hospital": ("#d32f2f", _hospital),
    "clinic": ("#ec407a", _clinic),
    "pharmacy": ("#2e7d32", _pharmacy),
    "school": ("#1565c0", _school),
    "kindergarten": ("#00acc1", _kindergarten),
    "nursing_home": ("#8e24aa", _nursing_home),
    "fire_station": ("#e64a19", _fire_station),
    "police": ("#283593", _police),
    "town_hall": ("#546e7a", _town_hall),
    "water_works": ("#0277bd", _water_works),
    "shelter": ("#795548", _shelter),
    "power_substation": ("#f9a825", _power_substation),
    "other": ("#757575", _other),
}
SITE_KINDS = tuple(SITE_COLOURS)

ICONS: tuple[Icon, ...] = (
    *(Icon(f"site-{kind}", 24, 24, _site(colour, draw)) for kind, (colour, draw) in SITE_COLOURS.items()),
    Icon("street-light", 14, 14, _street_light),
    Icon("sensor", 20, 20, _sensor),
    Icon("water-valve", 18, 18, _valve),
    Icon("water-pump", 18, 18, _pump),
    Icon("water-tank", 18, 18, _tank),
    Icon("water-reservoir", 20, 20, _reservoir),
    Icon("oneway-arrow", 16, 10, _oneway),
)


def _layout() -> tuple[dict[str, tuple[int, int]], int, int]:
    """Shelf packing in 1x pixels: each icon's top-left corner, and the sheet's width and height."""
    positions: dict[str, tuple[int, int]] = {}
    x = y = shelf = 0
    for icon in ICONS:
        if x + icon.width > _SHEET_WIDTH:
            x, y, shelf = 0, y + shelf + _PADDING, 0
        positions[icon.name] = (x, y)
        x += icon.width + _PADDING
        shelf = max(shelf, icon.height)
    return positions, _SHEET_WIDTH, y + shelf


def _render(icon: Icon, ratio: int) -> Image.Image:
    side = max(icon.width, icon.height) * _DRAW_SCALE
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    icon.paint(ImageDraw.Draw(canvas), float(side))
    # Non-square icons are painted on a square and cropped to their own proportions around the centre.
    w, h = icon.width * _DRAW_SCALE, icon.height * _DRAW_SCALE
    canvas = canvas.crop(((side - w) // 2, (side - h) // 2, (side - w) // 2 + w, (side - h) // 2 + h))
    # Premultiplied while averaging, or transparent pixels' black would darken the edges.
    small = canvas.convert("RGBa").resize((icon.width * ratio, icon.height * ratio), Image.Resampling.BOX)
    return small.convert("RGBA")


@cache
def sprite_sheet(pixel_ratio: int = 1) -> tuple[bytes, bytes]:
    """The sprite PNG and its JSON index (as bytes) at ``pixel_ratio`` 1 or 2, rendered once per process.

    Examples
    --------
    >>> png, index = sprite_sheet(2)
    >>> json.loads(index)["site-hospital"]
    {'x': 0, 'y': 0, 'width': 48, 'height': 48, 'pixelRatio': 2}
    """
    if pixel_ratio not in (1, 2):
        raise ValueError(f"pixel ratio {pixel_ratio} is not served: 1 or 2")
    positions, width, height = _layout()
    sheet = Image.new("RGBA", (width * pixel_ratio, height * pixel_ratio), (0, 0, 0, 0))
    index: dict[str, dict[str, Any]] = {}
    for icon in ICONS:
        x, y = (v * pixel_ratio for v in positions[icon.name])
        sheet.paste(_render(icon, pixel_ratio), (x, y))
        index[icon.name] = {
            "x": x,
            "y": y,
            "width": icon.width * pixel_ratio,
            "height": icon.height * pixel_ratio,
            "pixelRatio": pixel_ratio,
        }
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue(), json.dumps(index, separators=(",", ":")).encode()
