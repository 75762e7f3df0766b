"""MapLibre glyph ranges (signed distance fields in node-fontnik's protobuf) from the fonts installed on the server.

MapLibre draws text from pre-rendered SDF glyphs it fetches per font stack and range of 256 code points
(``/tiles/glyphs/{fontstack}/{range}.pbf``). We render them ourselves from Debian's DejaVu fonts (Noto when
installed) so that no font CDN is ever needed, with the parameters and encoding of node-fontnik, which MapLibre
expects: 24 px em, 3 px buffer, distances over a radius of 8 px stored as ``255 - clamp(d * 32 + 64)`` (``d``
in pixels, negative inside, so the outline is at 191 ≈ MapLibre's 0.75 cut-off).

Metrics (advance, bounding box) come from the font tables themselves, exactly as FreeType scales them without
hinting; the distance field comes from the glyph drawn by Pillow (FreeType) at ``SUPERSAMPLE`` times the size
and a Euclidean distance transform, averaged back over each output pixel.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import distance_transform_edt

from twin.errors import InvalidInput, NotFound

FONT_SIZE_PX = 24
BUFFER_PX = 3
RADIUS_PX = 8
CUTOFF = 0.25
SUPERSAMPLE = 6  # a 256-code-point range in ≈0.3 s on 2 cores; within ≈0.04 px of a 16× render
MAX_CODE_POINT = 65535
# Bump when the rendering changes: cached ranges of an older rendering are then left unused.
CACHE_VERSION = "v1"

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/noto"),
    Path("/usr/share/fonts/google-noto"),
    Path("/usr/share/fonts/TTF"),
)
# Stack name -> file name, in fallback order: an unknown stack gets the first one that is installed.
FONT_FILES: dict[str, str] = {
    "DejaVu Sans Book": "DejaVuSans.ttf",
    "Noto Sans Regular": "NotoSans-Regular.ttf",
    "DejaVu Sans Bold": "DejaVuSans-Bold.ttf",
    "Noto Sans Bold": "NotoSans-Bold.ttf",
}
_ALIASES = {"dejavu sans": "DejaVu Sans Book", "dejavu sans regular": "DejaVu Sans Book"}


@dataclass(frozen=True)
class Font:
    """An installed font a stack resolves to: its canonical stack name and file."""

    name: str
    path: Path


@dataclass(frozen=True)
class Glyph:
    """One SDF glyph as MapLibre reads it; ``bitmap`` is ``(width + 6) × (height + 6)`` bytes, rows top down."""

    id: int
    width: int
    height: int
    left: int
    top: int
    advance: int
    bitmap: bytes


def installed_font(name: str, font_dirs: tuple[Path, ...] = FONT_DIRS) -> Path | None:
    """The file of stack ``name`` (a key of :data:`FONT_FILES`) in the first font folder holding it."""
    filename = FONT_FILES.get(name)
    if filename is None:
        return None
    return next((d / filename for d in font_dirs if (d / filename).is_file()), None)


def resolve_stack(fontstack: str, font_dirs: tuple[Path, ...] = FONT_DIRS) -> Font:
    """The installed font serving ``fontstack`` (MapLibre's comma-joined ``text-font`` list).

    The first known and installed name of the stack wins; otherwise the first installed font of
    :data:`FONT_FILES`, so that a style asking for ``"Open Sans Regular,Arial Unicode MS Regular"`` still
    gets readable labels.

    Raises
    ------
    twin.errors.NotFound
        When no font of :data:`FONT_FILES` is installed (install ``fonts-dejavu-core``).
    """
    for part in fontstack.split(","):
        wanted = part.strip()
        name = _ALIASES.get(wanted.lower(), wanted)
        path = installed_font(name, font_dirs)
        if path is not None:
            return Font(name, path)
    for name in FONT_FILES:
        path = installed_font(name, font_dirs)
        if path is not None:
            return Font(name, path)
    searched = ", ".join(str(d) for d in font_dirs)
    raise NotFound(f"no font installed for the map labels (searched {searched}): install fonts-dejavu-core")


def parse_range(text: str) -> tuple[int, int]:
    """``"256-511"`` -> ``(256, 511)``; a range is 256 code points starting at a multiple of 256.

    Examples
    --------
    >>> parse_range("0-255"), parse_range("65280-65535")
    ((0, 255), (65280, 65535))
    """
    start_text, sep, end_text = text.partition("-")
    if not (
        sep and start_text.isdigit() and end_text.isdigit() and start_text.isascii() and end_text.isascii()
    ):
        raise InvalidInput(f"glyph range {text!r} is not of the form start-end, e.g. 0-255 or 256-511")
    start, end = int(start_text), int(end_text)
    if start % 256 or end != start + 255 or end > MAX_CODE_POINT:
        raise InvalidInput(
            f"glyph range {text!r} is not a block of 256 code points: send start-end with start a "
            f"multiple of 256, end = start + 255 and end at most {MAX_CODE_POINT} (e.g. 256-511)"
        )
    return start, end


class _FontTables:
    """The few TrueType tables FreeType's unhinted metrics come from: cmap, hmtx and glyph boxes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        offset = struct.unpack_from(">I", data, 12)[0] if data[:4] == b"ttcf" else 0
        num_tables = struct.unpack_from(">H", data, offset + 4)[0]
        self.tables: dict[bytes, int] = {}
        for i in range(num_tables):
            tag, _, table_offset, _ = struct.unpack_from(">4sIII", data, offset + 12 + 16 * i)
            self.tables[tag] = table_offset
        head = self.tables[b"head"]
        self.units_per_em = struct.unpack_from(">H", data, head + 18)[0]
        self.long_loca = struct.unpack_from(">h", data, head + 50)[0] == 1
        self.num_hmetrics = struct.unpack_from(">H", data, self.tables[b"hhea"] + 34)[0]
        self.cmap = self._read_cmap()

    def _read_cmap(self) -> dict[int, int]:
        data, base = self.data, self.tables[b"cmap"]
        subtables = {}
        for i in range(struct.unpack_from(">H", data, base + 2)[0]):
            platform, encoding, offset = struct.unpack_from(">HHI", data, base + 4 + 8 * i)
            subtables[(platform, encoding)] = base + offset
        for key in ((3, 10), (0, 4), (0, 6), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)):
            if key in subtables:
                table = subtables[key]
                fmt = struct.unpack_from(">H", data, table)[0]
                if fmt == 12:
                    return self._cmap12(table)
                if fmt == 4:
                    return self._cmap4(table)
        return {}

    def _cmap4(self, table: int) -> dict[int, int]:
        data, out = self.data, {}
        segments = struct.unpack_from(">H", data, table + 6)[0] // 2
        ends = struct.unpack_from(f">{segments}H", data, table + 14)
        starts = struct.unpack_from(f">{segments}H", data, table + 16 + 2 * segments)
        deltas = struct.unpack_from(f">{segments}h", data, table + 16 + 4 * segments)
        range_base = table + 16 + 6 * segments
        range_offsets = struct.unpack_from(f">{segments}H", data, range_base)
        for i, (start, end, delta, range_offset) in enumerate(
            zip(starts, ends, deltas, range_offsets, strict=True)
        ):
            for code in range(start, min(end, 0xFFFE) + 1):
                if range_offset == 0:
                    gid = (code + delta) & 0xFFFF
                else:
                    # idRangeOffset counts from its own slot in the array (the spec's pointer trick).
                    where = range_base + 2 * i + range_offset + 2 * (code - start)
                    gid = struct.unpack_from(">H", data, where)[0]
                    gid = (gid + delta) & 0xFFFF if gid else 0
                if gid:
                    out[code] = gid
        return out

    def _cmap12(self, table: int) -> dict[int, int]:
        data, out = self.data, {}
        for i in range(struct.unpack_from(">I", data, table + 12)[0]):
            start, end, gid = struct.unpack_from(">III", data, table + 16 + 12 * i)
            for code in range(start, min(end, MAX_CODE_POINT) + 1):
                out[code] = gid + code - start
        return out

    def advance_units(self, gid: int) -> int:
        index = min(gid, self.num_hmetrics - 1)
        return int(struct.unpack_from(">H", self.data, self.tables[b"hmtx"] + 4 * index)[0])

    def box_units(self, gid: int) -> tuple[int, int, int, int] | None:
        """The glyph's (xMin, yMin, xMax, yMax) in font units, None when it has no outline (space)."""
        if b"glyf" not in self.tables:
            return None
        loca = self.tables[b"loca"]
        if self.long_loca:
            start, end = struct.unpack_from(">II", self.data, loca + 4 * gid)
        else:
            start, end = (2 * v for v in struct.unpack_from(">HH", self.data, loca + 2 * gid))
        if end <= start:
            return None
        return struct.unpack_from(">4h", self.data, self.tables[b"glyf"] + start + 2)


def _std_round(value: float) -> int:
    # C++ std::round (halves away from zero), as fontnik rounds its boxes; Python's round() is banker's.
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


class _FontRenderer:
    """Renders the SDF glyphs of one font file."""

    def __init__(self, path: Path) -> None:
        self.tables = _FontTables(path.read_bytes())
        self.ascender = ImageFont.truetype(str(path), FONT_SIZE_PX).getmetrics()[0]
        # BASIC layout: one glyph at a time needs no shaping, and raqm refuses some control characters.
        self.big = ImageFont.truetype(
            str(path), FONT_SIZE_PX * SUPERSAMPLE, layout_engine=ImageFont.Layout.BASIC
        )
        upem = self.tables.units_per_em
        # FreeType's 16.16 scale for 24 px (FT_DivFix), then FT_MulFix per value: unhinted 26.6 metrics.
        self.scale = ((FONT_SIZE_PX * 64 << 16) + upem // 2) // upem

    def _px(self, units: int) -> float:
        return ((units * self.scale + 0x8000) >> 16) / 64 if units >= 0 else -self._px(-units)

    def glyph(self, code: int) -> Glyph | None:
        gid = self.tables.cmap.get(code)
        if gid is None:
            return None
        advance = int(self._px(self.tables.advance_units(gid)))
        box = self.tables.box_units(gid)
        if box is None:
            box_px = self.big.getbbox(chr(code), anchor="ls") if b"glyf" not in self.tables.tables else None
            if box_px is None or box_px[2] <= box_px[0]:
                return Glyph(code, 0, 0, 0, -self.ascender, advance, b"")
            # CFF fonts have no glyf boxes: take the rendered box (y down from the baseline).
            left, top, right, bottom = box_px
            xmin, xmax = _std_round(left / SUPERSAMPLE), _std_round(right / SUPERSAMPLE)
            ymin, ymax = _std_round(-bottom / SUPERSAMPLE), _std_round(-top / SUPERSAMPLE)
        else:
            xmin, ymin, xmax, ymax = (_std_round(self._px(v)) for v in box)
        width, height = xmax - xmin, ymax - ymin
        if width <= 0 or height <= 0:
            return Glyph(code, 0, 0, 0, -self.ascender, advance, b"")
        bitmap = self._sdf(chr(code), xmin, ymax, width, height)
        return Glyph(code, width, height, xmin, ymax - self.ascender, advance, bitmap)

    def _sdf(self, char: str, xmin: int, ymax: int, width: int, height: int) -> bytes:
        k, pad = SUPERSAMPLE, BUFFER_PX
        cols, rows = width + 2 * pad, height + 2 * pad
        canvas = Image.new("L", (cols * k, rows * k), 0)
        # Pen at the glyph origin so that the box lands ``pad`` pixels inside the bitmap, as in fontnik.
        origin = ((pad - xmin) * k, (pad + ymax) * k)
        ImageDraw.Draw(canvas).text(origin, char, font=self.big, fill=255, anchor="ls")
        inside = np.asarray(canvas) >= 128
        # The outline runs between the last pixel in and the first pixel out: half a sample from either centre.
        depth = distance_transform_edt(inside) - 0.5
        distance = distance_transform_edt(~inside) - 0.5
        signed = np.where(inside, -depth, distance) / k
        # The mean over a pixel's k×k samples is the distance at its centre (the field is locally linear).
        signed = signed.reshape(rows, k, cols, k).mean(axis=(1, 3))
        encoded = np.clip(np.trunc(signed * (256 / RADIUS_PX) + CUTOFF * 256), 0, 255)
        return (255 - encoded).astype(np.uint8).tobytes()


@cache
def _renderer(path: Path) -> _FontRenderer:
    return _FontRenderer(path)


def render_range(font: Font, start: int, end: int) -> list[Glyph]:
    """The glyphs of ``font`` for code points ``start..end`` (inclusive); code points it lacks are absent."""
    renderer = _renderer(font.path)
    glyphs = (renderer.glyph(code) for code in range(start, end + 1))
    return [g for g in glyphs if g is not None]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_sint(number: int, value: int) -> bytes:
    return _field_varint(number, (value << 1) ^ (value >> 63))  # zigzag, protobuf's sint32


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_glyphs(stack_name: str, start: int, end: int, glyphs: list[Glyph]) -> bytes:
    """The protobuf ``glyphs { stacks { name, range, glyphs {…} } }`` MapLibre parses, fields in fontnik's order.

    Examples
    --------
    >>> encode_glyphs("S", 0, 255, [Glyph(32, 0, 0, 0, -23, 7, b"")]).hex()
    '0a180a01531205302d3235351a0c0820180020002800302d3807'
    """
    parts = [_field_bytes(1, stack_name.encode()), _field_bytes(2, f"{start}-{end}".encode())]
    for g in glyphs:
        body = _field_varint(1, g.id)
        if g.width > 0:
            body += _field_bytes(2, g.bitmap)
        body += (
            _field_varint(3, g.width)
            + _field_varint(4, g.height)
            + _field_sint(5, g.left)
            + _field_sint(6, g.top)
            + _field_varint(7, g.advance)
        )
        parts.append(_field_bytes(3, body))
    return _field_bytes(1, b"".join(parts))


def _font_fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:10]


class GlyphStore:
    """Glyph ranges generated once, then served from memory or from files under ``cache_dir``.

    Keys are the resolved font, never the requested stack text: arbitrary stack names cannot grow the cache.
    Generation runs under one lock (FreeType faces are not thread-safe, and two requests for the same range
    should render it once).

    Parameters
    ----------
    cache_dir : Path or None
        Folder of the generated ``.pbf`` files (``<var_dir>/glyphs``); None keeps them in memory only.
    memory_items : int
        How many ranges stay in memory (least recently used go first).
    """

    def __init__(
        self, cache_dir: Path | None, *, memory_items: int = 256, font_dirs: tuple[Path, ...] = FONT_DIRS
    ):
        self.cache_dir = cache_dir
        self.memory_items = memory_items
        self.font_dirs = font_dirs
        self._memory: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def _file(self, font: Font, start: int) -> Path | None:
        if self.cache_dir is None:
            return None
        folder = f"{font.name.replace(' ', '_')}-{_font_fingerprint(font.path)}"
        return self.cache_dir / CACHE_VERSION / folder / f"{start}-{start + 255}.pbf"

    def get(self, fontstack: str, glyph_range: str) -> bytes:
        """The PBF of ``glyph_range`` (``"0-255"``…) for ``fontstack``; blocking: call it off the event loop.

        Raises
        ------
        twin.errors.InvalidInput
            When the range is not a 256-code-point block (see :func:`parse_range`).
        twin.errors.NotFound
            When no usable font is installed.
        """
        start, end = parse_range(glyph_range)
        font = resolve_stack(fontstack, self.font_dirs)
        key = (str(font.path), start)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            path = self._file(font, start)
            if path is not None and path.is_file():
                data = path.read_bytes()
            else:
                data = encode_glyphs(font.name, start, end, render_range(font, start, end))
                if path is not None:
                    _write_atomically(path, data)
            self._memory[key] = data
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)
            return data


def _write_atomically(path: Path, data: bytes) -> None:
    # Another worker process may read the file while we write it: rename a complete file into place.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
