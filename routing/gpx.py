"""GPX 1.1 output of a route: one track (the geometry) and one waypoint per instruction."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

import shapely


def route_to_gpx(geometry: shapely.LineString, steps: list[dict[str, Any]], *, name: str) -> str:
    """A GPX 1.1 document (``application/gpx+xml``) for a route.

    Examples
    --------
    >>> text = route_to_gpx(shapely.LineString([(7.0, 43.0), (7.1, 43.1)]), [], name="r")
    >>> text.count("<trkpt"), text.startswith("<?xml")
    (2, True)
    """
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="Hyperviseur" xmlns="http://www.topografix.com/GPX/1/1">',
        f"  <metadata><name>{escape(name)}</name></metadata>",
    ]
    for step in steps:
        lon, lat = step["location"]
        lines.append(
            f"  <wpt lat={quoteattr(f'{lat:.7f}')} lon={quoteattr(f'{lon:.7f}')}>"
            f"<name>{escape(step['text'])}</name><type>{escape(step['type'])}</type></wpt>"
        )
    lines.append(f"  <trk><name>{escape(name)}</name><trkseg>")
    for x, y in shapely.get_coordinates(geometry):
        lines.append(f'    <trkpt lat="{y:.7f}" lon="{x:.7f}"/>')
    lines += ["  </trkseg></trk>", "</gpx>", ""]
    return "\n".join(lines)
