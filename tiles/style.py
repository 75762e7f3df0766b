"""The console's MapLibre style (v8): every visible catalog layer, from our own tiles, glyphs and sprites.

Nothing in the document points outside the server: the vector source, the glyphs and the sprite are all under
``base_url``. Layer ids are stable (the console toggles them by id; ``docs/tiles.md`` lists them):

=====================  ===============  ==========================================================
id                     source-layer     what
=====================  ===============  ==========================================================
background             —                the land colour
buildings              buildings        footprints (fill, z13+), coloured by ``use``
roads-<class>-casing   road_edges       road borders, ``<class>`` in service, minor, tertiary,
                                        secondary, primary, trunk, motorway (drawn in that order)
roads-<class>          road_edges       road fills, widths interpolated by zoom
roads-oneway           road_edges       arrows along one-way arcs (z16+)
water-pipes            water_pipes      mains (restricted layers: absent for most roles)
water-valves-line      water_valves     valve links, and ``water-valves`` their icon
water-pumps-line       water_pumps      pump links, and ``water-pumps`` their icon
water-junctions        water_junctions  network nodes (z15+)
buildings-3d           buildings        extrusions, ``visibility: none`` until the console turns 3D on
road-nodes             road_nodes       crossings (z16+)
street-lights          street_lights    small circles (z16+, as the console asks; tiles have them from z13)
gis-<layer>[-kind]     <layer>          any other catalog layer (imported GIS files), by geometry type
roads-label            road_edges       street names along the lines
water-tanks            water_tanks      tank icons
water-reservoirs       water_reservoirs source icons
sensors                sensors          sensor icons, names from z16
critical-sites         critical_sites   one icon per ``kind``, name (or kind) below from z13
=====================  ===============  ==========================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from layers.catalog import Layer
from tiles.sprites import SITE_KINDS
from twin.errors import InvalidInput

SOURCE = "hyperviseur"
LANGS = ("fr", "en")
FONT_REGULAR = ["DejaVu Sans Book"]
FONT_BOLD = ["DejaVu Sans Bold"]

# Catalog titles of the built-in layers (BUILTIN_LAYERS of twin/migrations/versions/0001_territory_schema.py).
LAYER_TITLES: dict[str, tuple[str, str]] = {
    "road_edges": ("Voirie (tronçons)", "Road network (arcs)"),
    "road_nodes": ("Voirie (carrefours)", "Road network (nodes)"),
    "buildings": ("Bâtiments", "Buildings"),
    "critical_sites": ("Sites sensibles", "Critical sites"),
    "street_lights": ("Éclairage public", "Street lights"),
    "water_junctions": ("Eau : nœuds", "Water: junctions"),
    "water_pipes": ("Eau : canalisations", "Water: pipes"),
    "water_valves": ("Eau : vannes", "Water: valves"),
    "water_pumps": ("Eau : pompes", "Water: pumps"),
    "water_tanks": ("Eau : réservoirs", "Water: tanks"),
    "water_reservoirs": ("Eau : ressources", "Water: sources"),
    "sensors": ("Capteurs", "Sensors"),
}
SITE_TITLES: dict[str, tuple[str, str]] = {
    "hospital": ("Hôpital", "Hospital"),
    "clinic": ("Clinique", "Clinic"),
    "pharmacy": ("Pharmacie", "Pharmacy"),
    "school": ("École", "School"),
    "kindergarten": ("Crèche, école maternelle", "Kindergarten"),
    "nursing_home": ("EHPAD", "Nursing home"),
    "fire_station": ("Caserne de pompiers", "Fire station"),
    "police": ("Police, gendarmerie", "Police"),
    "town_hall": ("Mairie", "Town hall"),
    "water_works": ("Usine d'eau", "Water works"),
    "shelter": ("Abri, hébergement d'urgence", "Shelter"),
    "power_substation": ("Poste électrique", "Power substation"),
    "other": ("Autre site sensible", "Other critical site"),
}
_STYLE_NAMES = {"fr": "Hyperviseur — plan du territoire", "en": "Hyperviseur — territory map"}

# Road classes, drawn bottom to top: id part, OSM ``highway`` values (none = every other value), minzoom as in
# the tiles, fill and casing colours, fill width (px) at zoom stops. ``_link`` ramps get 70 % of the width.
# fmt: off
_ROAD_CLASSES = [
    ("service", "", 15, "#ffffff", "#c9c0b4", "15:1 18:5 20:12"),
    ("minor", "residential unclassified living_street", 14, "#ffffff", "#bfb5a8", "14:1.5 16:4 18:10 20:22"),
    ("tertiary", "tertiary tertiary_link", 12, "#ffffff", "#b3a797", "12:1 14:2.5 16:6 18:13 20:26"),
    ("secondary", "secondary secondary_link", 12, "#f6f3b8", "#a9a27a", "12:1.2 14:3 16:7 18:15 20:30"),
    ("primary", "primary primary_link", 10, "#fcd27f", "#b98c3a", "10:1 12:1.8 14:3.5 16:8 18:17 20:34"),
    ("trunk", "trunk trunk_link", 10, "#f9a27c", "#b8623e", "10:1.2 12:2 14:4 16:9 18:18 20:36"),
    ("motorway", "motorway motorway_link", 10, "#e8788f", "#a4435a", "10:1.5 12:2.2 14:4.5 16:10 18:20 20:40"),
]
_BUILDING_COLOUR: list[Any] = [
    "match", ["get", "use"],
    ["residential", "house", "apartments", "detached", "terrace", "semidetached_house"], "#e3dacd",
    ["commercial", "retail", "office", "supermarket", "hotel"], "#e9d5cc",
    ["industrial", "warehouse", "manufacture"], "#dcd6e0",
    ["civic", "public", "government", "hospital", "school", "university", "church", "townhall"], "#d9cbb5",
    "#ddd5ca",
]
# Height for the extrusion: height_m, else levels × 3 m, else 6 m (a property missing from the tile is null).
_BUILDING_HEIGHT: list[Any] = [
    "case",
    ["all", ["==", ["typeof", ["get", "height_m"]], "number"], [">", ["get", "height_m"], 0]],
    ["get", "height_m"],
    ["all", ["==", ["typeof", ["get", "levels"]], "number"], [">", ["get", "levels"], 0]],
    ["*", ["get", "levels"], 3],
    6,
]
# fmt: on
_NAMED_CLASSES = [value for _, values, *_ in _ROAD_CLASSES for value in values.split()]
_HALO = {"text-color": "#37474f", "text-halo-color": "rgba(255,255,255,0.9)", "text-halo-width": 1.4}
_ROUND = {"line-join": "round", "line-cap": "round"}


def _zoom(stops: Iterable[tuple[float, Any]], base: float = 1.0) -> list[Any]:
    curve: list[Any] = ["linear"] if base == 1.0 else ["exponential", base]
    out: list[Any] = ["interpolate", curve, ["zoom"]]
    for zoom, value in stops:
        out += [zoom, value]
    return out


def _layer(layer_id: str, kind: str, source_layer: str, minzoom: int, **parts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": layer_id, "type": kind, "source": SOURCE, "source-layer": source_layer}
    if minzoom:
        out["minzoom"] = minzoom
    out.update({key: value for key, value in parts.items() if value is not None})
    return out


def _circle(
    radius: list[tuple[float, float]], colour: str, stroke: str, stroke_width: float
) -> dict[str, Any]:
    return {
        "circle-radius": _zoom(radius),
        "circle-color": colour,
        "circle-stroke-color": stroke,
        "circle-stroke-width": stroke_width,
    }


def _road_width(values: list[str], stops: str, extra: float = 0.0) -> list[Any]:
    links = [v for v in values if v.endswith("_link")]
    # Casings are wider by ``extra`` px at high zoom, half of it at low zoom.
    pairs = [(float(z), float(w)) for z, w in (stop.split(":") for stop in stops.split())]
    widened = [(z, w + extra * min(1.0, max(0.5, (z - 10) / 6))) for z, w in pairs]
    if not links:
        return _zoom(widened, 1.5)
    # Zoom must stay the top-level input: the per-feature choice goes inside each stop.
    return _zoom(((z, ["match", ["get", "highway"], links, round(w * 0.7, 2), w]) for z, w in widened), 1.5)


def _road_layers() -> list[dict[str, Any]]:
    casings, fills = [], []
    for name, text, minzoom, fill, casing, stops in _ROAD_CLASSES:
        values = text.split()
        if values:
            only = ["match", ["get", "highway"], values, True, False]
        else:  # service, track, path, and any class no other layer names
            only = ["match", ["get", "highway"], _NAMED_CLASSES, False, True]
        casing_paint = {"line-color": casing, "line-width": _road_width(values, stops, extra=2.0)}
        fill_paint = {"line-color": fill, "line-width": _road_width(values, stops)}
        kw = {"filter": only, "layout": _ROUND}
        casings.append(
            _layer(f"roads-{name}-casing", "line", "road_edges", max(minzoom, 12), **kw, paint=casing_paint)
        )
        fills.append(_layer(f"roads-{name}", "line", "road_edges", minzoom, **kw, paint=fill_paint))
    arrows = {
        "symbol-placement": "line",
        "symbol-spacing": 120,
        "icon-image": "oneway-arrow",
        "icon-size": _zoom([(16, 0.7), (19, 1.0)]),
        "icon-allow-overlap": True,
    }
    oneway = _layer(
        "roads-oneway", "symbol", "road_edges", 16, filter=["==", ["get", "oneway"], True], layout=arrows
    )
    return [*casings, *fills, oneway]


def _label(minzoom: float, text: Any, font: list[str] = FONT_REGULAR, dy: float = 1.1) -> dict[str, Any]:
    # Icons show from their layer's minzoom, names only from ``minzoom``: a step on zoom in text-field.
    return {
        "text-field": ["step", ["zoom"], "", minzoom, text],
        "text-font": font,
        "text-size": _zoom([(13, 10), (18, 13)]),
        "text-anchor": "top",
        "text-offset": [0, dy],
        "text-optional": True,
        "text-max-width": 9,
    }


def _icon_layer(
    layer_id: str, source_layer: str, icon: Any, minzoom: int, label: dict[str, Any]
) -> dict[str, Any]:
    layout = {
        "icon-image": icon,
        "icon-size": _zoom([(minzoom, 0.6), (minzoom + 4, 1.0)]),
        "icon-allow-overlap": True,
    }
    return _layer(layer_id, "symbol", source_layer, minzoom, layout={**layout, **label}, paint=_HALO)


def _lower_layers() -> list[dict[str, Any]]:
    """Areas, lines and circles, bottom to top (everything under the labels and icons)."""
    building_fill = {
        "fill-color": _BUILDING_COLOUR,
        "fill-outline-color": "#c2b5a3",
        "fill-opacity": _zoom([(13, 0.6), (15, 1)]),
    }
    extrusion = {
        "fill-extrusion-color": _BUILDING_COLOUR,
        "fill-extrusion-height": _BUILDING_HEIGHT,
        "fill-extrusion-base": 0,
        "fill-extrusion-opacity": 0.85,
    }
    pipes = {
        "line-color": "#0277bd",
        "line-opacity": 0.9,
        "line-width": _zoom([(12, 0.8), (16, 2.5), (19, 5)]),
    }
    links = {"line-color": "#01579b", "line-width": _zoom([(14, 2.0), (18, 6.0)])}
    return [
        _layer("buildings", "fill", "buildings", 13, paint=building_fill),
        *_road_layers(),
        _layer("water-pipes", "line", "water_pipes", 12, layout=_ROUND, paint=pipes),
        _layer("water-valves-line", "line", "water_valves", 14, paint=links),
        _layer("water-pumps-line", "line", "water_pumps", 14, paint=links),
        _layer(
            "water-junctions",
            "circle",
            "water_junctions",
            15,
            paint=_circle([(15, 1.5), (19, 4)], "#4fc3f7", "#01579b", 0.8),
        ),
        _layer(
            "buildings-3d", "fill-extrusion", "buildings", 13, layout={"visibility": "none"}, paint=extrusion
        ),
        _layer(
            "road-nodes",
            "circle",
            "road_nodes",
            16,
            paint=_circle([(16, 1.5), (19, 3.5)], "#ffffff", "#9e9e9e", 0.8),
        ),
        _layer(
            "street-lights",
            "circle",
            "street_lights",
            16,
            paint=_circle([(16, 2.5), (19, 5)], "#ffd54f", "#6d4c41", 1),
        ),
    ]


def _upper_layers(en: bool) -> list[dict[str, Any]]:
    """Labels and icons, bottom to top (critical sites last: they must never be hidden)."""
    road_label = {
        "symbol-placement": "line",
        "text-field": ["get", "name"],
        "text-font": FONT_REGULAR,
        "text-size": _zoom([(13, 10), (18, 14)]),
        "symbol-spacing": 300,
        "text-max-angle": 30,
    }
    icon: list[Any] = ["match", ["get", "kind"]]
    kind_title: list[Any] = ["match", ["get", "kind"]]
    for kind in SITE_KINDS[:-1]:
        icon += [kind, f"site-{kind}"]
        kind_title += [kind, SITE_TITLES[kind][en]]
    icon.append("site-other")
    kind_title.append(SITE_TITLES["other"][en])
    name = _label(16, ["coalesce", ["get", "name"], ""])
    on_link = {
        "symbol-placement": "line-center",
        "icon-rotation-alignment": "viewport",
        "icon-allow-overlap": True,
    }
    return [
        _layer("roads-label", "symbol", "road_edges", 13, filter=["has", "name"], layout=road_label, paint=_HALO),
        _layer("water-valves", "symbol", "water_valves", 14, layout={**on_link, "icon-image": "water-valve"}),
        _layer("water-pumps", "symbol", "water_pumps", 14, layout={**on_link, "icon-image": "water-pump"}),
        _icon_layer("water-tanks", "water_tanks", "water-tank", 12, name),
        _icon_layer("water-reservoirs", "water_reservoirs", "water-reservoir", 12, name),
        _icon_layer("sensors", "sensors", "sensor", 12, name),
        _icon_layer("critical-sites", "critical_sites", icon, 10,
                    _label(13, ["coalesce", ["get", "name"], kind_title], FONT_BOLD, 1.3)),
    ]  # fmt: skip


def _generic_layers(layer: Layer) -> list[dict[str, Any]]:
    """Layers for a catalog layer without a hand-made style (an imported GIS file), by geometry type."""
    colour = "#" + hashlib.sha256(layer.name.encode()).hexdigest()[:6]  # stable across restarts
    paints = {
        "Point": ("circle", _circle([(10, 2.5), (18, 6)], colour, "#ffffff", 1.2)),
        "LineString": ("line", {"line-color": colour, "line-width": _zoom([(10, 1.0), (18, 4.0)])}),
        "Polygon": ("fill", {"fill-color": colour, "fill-opacity": 0.35, "fill-outline-color": colour}),
    }
    shapes = [shape for shape in paints if shape.lower() in layer.geometry_type.lower()] or list(paints)
    out = []
    for shape in shapes:
        kind, paint = paints[shape]
        if len(shapes) == 1:
            out.append(_layer(f"gis-{layer.name}", kind, layer.name, 0, paint=paint))
        else:  # a mixed layer: one style layer per geometry type
            only = ["==", ["geometry-type"], shape]
            out.append(_layer(f"gis-{layer.name}-{kind}", kind, layer.name, 0, filter=only, paint=paint))
    return out


def style_document(
    *, base_url: str, lang: str = "fr", layers: Iterable[str], catalog: Sequence[Layer] = ()
) -> dict[str, Any]:
    """The MapLibre style v8 of the console for a caller who may see ``layers``.

    Parameters
    ----------
    base_url : str
        The server's root URL as clients see it; every URL of the style starts with it.
    lang : str
        ``fr`` or ``en``: the style's name, layer titles and the label of unnamed critical sites. Names from
        the data are shown as they are.
    layers : iterable of str
        The catalog layers the caller may see (source-layers of the combined TileJSON); others are left out.
    catalog : sequence of Layer
        Catalog entries: layers in ``layers`` without a hand-made style get a generic one and their title.

    Returns
    -------
    dict
        The style document (JSON-serialisable).

    Examples
    --------
    >>> doc = style_document(base_url="https://sig.ville.fr", layers=["road_edges"])
    >>> doc["sources"]["hyperviseur"]["url"], doc["glyphs"]
    ('https://sig.ville.fr/tiles/tilejson.json', 'https://sig.ville.fr/tiles/glyphs/{fontstack}/{range}.pbf')
    >>> [layer["id"] for layer in doc["layers"]][:3]
    ['background', 'roads-service-casing', 'roads-minor-casing']
    """
    if lang not in LANGS:
        raise InvalidInput(f"style language {lang!r} is not served: send lang=fr or lang=en")
    base, en = base_url.rstrip("/"), lang == "en"
    visible = list(dict.fromkeys(layers))
    entries = {layer.name: layer for layer in catalog}

    def titles(name: str) -> tuple[str, str]:
        entry = entries.get(name)
        return LAYER_TITLES.get(name) or ((entry.title_fr, entry.title_en) if entry else (name, name))

    generic = [
        g
        for name in visible
        if name not in LAYER_TITLES and name in entries
        for g in _generic_layers(entries[name])
    ]
    drawn = [
        layer
        for layer in [*_lower_layers(), *generic, *_upper_layers(en)]
        if layer["source-layer"] in visible
    ]
    for layer in drawn:
        # Where the console's legend and layer switcher read a style layer's title.
        layer["metadata"] = {"hyperviseur:title": titles(layer["source-layer"])[en]}
    background = {"id": "background", "type": "background", "paint": {"background-color": "#f2efe9"}}
    return {
        "version": 8,
        "name": _STYLE_NAMES[lang],
        "metadata": _metadata(drawn, visible, lang, titles),
        "sources": {SOURCE: {"type": "vector", "url": f"{base}/tiles/tilejson.json"}},
        "sprite": f"{base}/tiles/sprites/sprite",
        "glyphs": f"{base}/tiles/glyphs/{{fontstack}}/{{range}}.pbf",
        "layers": [background, *drawn],
    }


def _metadata(
    drawn: list[dict[str, Any]], visible: list[str], lang: str, titles: Callable[[str], tuple[str, str]]
) -> dict[str, Any]:
    """The legend the console draws: per visible source-layer its titles and style layer ids."""
    en = lang == "en"
    legend = []
    for name in visible:
        ids = [layer["id"] for layer in drawn if layer["source-layer"] == name]
        if ids:
            fr_title, en_title = titles(name)
            legend.append(
                {
                    "source-layer": name,
                    "title": titles(name)[en],
                    "title_fr": fr_title,
                    "title_en": en_title,
                    "layers": ids,
                }
            )
    out: dict[str, Any] = {"hyperviseur:lang": lang, "hyperviseur:legend": legend}
    if "critical_sites" in visible:
        out["hyperviseur:site-kinds"] = [
            {
                "kind": kind,
                "icon": f"site-{kind}",
                "title": fr_en[en],
                "title_fr": fr_en[0],
                "title_en": fr_en[1],
            }
            for kind, fr_en in ((kind, SITE_TITLES[kind]) for kind in SITE_KINDS)
        ]
    if "buildings" in visible:
        out["hyperviseur:toggles"] = {"3d": {"show": ["buildings-3d"], "hide": ["buildings"]}}
    return out
