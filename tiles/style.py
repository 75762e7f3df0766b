"""The console's MapLibre style (v8): every visible catalog layer drawn from our own tiles, glyphs and sprites.

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

# The catalog titles of the built-in layers (twin/migrations/versions/0001_territory_schema.py, BUILTIN_LAYERS).
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

# Road classes, drawn bottom to top: (id part, OSM highway values, minzoom as in the tiles, fill, casing,
# fill width in px at zoom stops). ``_link`` ramps share their class's colour at 70 % of its width.
_ROAD_CLASSES: list[tuple[str, list[str], int, str, str, list[tuple[float, float]]]] = [
    ("service", [], 15, "#ffffff", "#c9c0b4", [(15, 1.0), (18, 5.0), (20, 12.0)]),
    ("minor", ["residential", "unclassified", "living_street"], 14, "#ffffff", "#bfb5a8",
     [(14, 1.5), (16, 4.0), (18, 10.0), (20, 22.0)]),
    ("tertiary", ["tertiary", "tertiary_link"], 12, "#ffffff", "#b3a797",
     [(12, 1.0), (14, 2.5), (16, 6.0), (18, 13.0), (20, 26.0)]),
    ("secondary", ["secondary", "secondary_link"], 12, "#f6f3b8", "#a9a27a",
     [(12, 1.2), (14, 3.0), (16, 7.0), (18, 15.0), (20, 30.0)]),
    ("primary", ["primary", "primary_link"], 10, "#fcd27f", "#b98c3a",
     [(10, 1.0), (12, 1.8), (14, 3.5), (16, 8.0), (18, 17.0), (20, 34.0)]),
    ("trunk", ["trunk", "trunk_link"], 10, "#f9a27c", "#b8623e",
     [(10, 1.2), (12, 2.0), (14, 4.0), (16, 9.0), (18, 18.0), (20, 36.0)]),
    ("motorway", ["motorway", "motorway_link"], 10, "#e8788f", "#a4435a",
     [(10, 1.5), (12, 2.2), (14, 4.5), (16, 10.0), (18, 20.0), (20, 40.0)]),
]
_NAMED_CLASSES = [value for _, values, *_ in _ROAD_CLASSES for value in values]

_BUILDING_COLOUR: list[Any] = [
    "match", ["get", "use"],
    ["residential", "house", "apartments", "detached", "terrace", "semidetached_house"], "#e3dacd",
    ["commercial", "retail", "office", "supermarket", "hotel"], "#e9d5cc",
    ["industrial", "warehouse", "manufacture"], "#dcd6e0",
    ["civic", "public", "government", "hospital", "school", "university", "church", "townhall"], "#d9cbb5",
    "#ddd5ca",
]
# Height for the extrusion: height_m, else levels × 3 m, else 6 m (typeof guards: a missing value is null).
_BUILDING_HEIGHT: list[Any] = [
    "case",
    ["all", ["==", ["typeof", ["get", "height_m"]], "number"], [">", ["get", "height_m"], 0]],
    ["get", "height_m"],
    ["all", ["==", ["typeof", ["get", "levels"]], "number"], [">", ["get", "levels"], 0]],
    ["*", ["get", "levels"], 3],
    6,
]
_HALO = {"text-color": "#37474f", "text-halo-color": "rgba(255,255,255,0.9)", "text-halo-width": 1.4}


def _zoom(stops: Iterable[tuple[float, Any]], base: float = 1.0) -> list[Any]:
    curve: list[Any] = ["linear"] if base == 1.0 else ["exponential", base]
    out: list[Any] = ["interpolate", curve, ["zoom"]]
    for zoom, value in stops:
        out += [zoom, value]
    return out


def _layer(layer_id: str, kind: str, source_layer: str | None, title: str, **parts: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": layer_id, "type": kind}
    if source_layer is not None:
        out["source"] = SOURCE
        out["source-layer"] = source_layer
    out["metadata"] = {"hyperviseur:title": title}
    out.update({key.replace("_", "-"): value for key, value in parts.items() if value is not None})
    return out


def _road_filter(values: list[str]) -> list[Any]:
    if values:
        return ["match", ["get", "highway"], values, True, False]
    return ["match", ["get", "highway"], _NAMED_CLASSES, False, True]  # service, track, anything unnamed


def _road_width(values: list[str], stops: list[tuple[float, float]], extra: float = 0.0) -> list[Any]:
    links = [v for v in values if v.endswith("_link")]
    widened = [(z, w + extra * min(1.0, max(0.5, (z - 10) / 6))) for z, w in stops]
    if not links:
        return _zoom(widened, 1.5)
    # Zoom must stay the top-level input: the per-feature choice goes inside each stop.
    return _zoom(((z, ["match", ["get", "highway"], links, round(w * 0.7, 2), w]) for z, w in widened), 1.5)


def _road_layers(title: str) -> list[dict[str, Any]]:
    casings, fills = [], []
    for name, values, minzoom, fill, casing, stops in _ROAD_CLASSES:
        paint_layout = {"filter": _road_filter(values), "layout": {"line-join": "round", "line-cap": "round"}}
        casings.append(_layer(
            f"roads-{name}-casing", "line", "road_edges", title, minzoom=max(minzoom, 12), **paint_layout,
            paint={"line-color": casing, "line-width": _road_width(values, stops, extra=2.0)},
        ))
        fills.append(_layer(
            f"roads-{name}", "line", "road_edges", title, minzoom=minzoom, **paint_layout,
            paint={"line-color": fill, "line-width": _road_width(values, stops)},
        ))
    oneway = _layer(
        "roads-oneway", "symbol", "road_edges", title, minzoom=16,
        filter=["==", ["get", "oneway"], True],
        layout={"symbol-placement": "line", "symbol-spacing": 120, "icon-image": "oneway-arrow",
                "icon-size": _zoom([(16, 0.7), (19, 1.0)]), "icon-allow-overlap": True},
    )
    return [*casings, *fills, oneway]


def _symbol_label(minzoom: float, text: Any, **extra: Any) -> dict[str, Any]:
    # Icons show from the layer's minzoom, their names only from ``minzoom``: a step on zoom in text-field.
    return {
        "text-field": ["step", ["zoom"], "", minzoom, text],
        "text-font": FONT_REGULAR,
        "text-size": _zoom([(13, 10), (18, 13)]),
        "text-anchor": "top",
        "text-offset": [0, 1.1],
        "text-optional": True,
        "text-max-width": 9,
        **extra,
    }


def _icon_layer(layer_id: str, source_layer: str, title: str, icon: str, minzoom: int) -> dict[str, Any]:
    return _layer(
        layer_id, "symbol", source_layer, title, minzoom=minzoom,
        layout={"icon-image": icon, "icon-size": _zoom([(minzoom, 0.7), (17, 1.0)]),
                "icon-allow-overlap": True,
                **_symbol_label(16, ["coalesce", ["get", "name"], ""])},
        paint=_HALO,
    )


def _generic_layers(layer: Layer, title: str) -> list[dict[str, Any]]:
    """Layers for a catalog layer without a hand-made style (an imported GIS file), by geometry type."""
    colour = "#" + hashlib.sha256(layer.name.encode()).hexdigest()[:6]  # stable across restarts
    geometry = layer.geometry_type.lower()
    kinds = [k for k in ("point", "linestring", "polygon") if k in geometry] or ["point", "linestring", "polygon"]
    out = []
    for kind in kinds:
        suffix = "" if len(kinds) == 1 else f"-{kind}"
        shape = {"point": "Point", "linestring": "LineString", "polygon": "Polygon"}[kind]
        only = None if len(kinds) == 1 else ["==", ["geometry-type"], shape]
        if kind == "point":
            paint = {"circle-radius": _zoom([(10, 2.5), (18, 6)]), "circle-color": colour,
                     "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.2}
            out.append(_layer(f"gis-{layer.name}{suffix}", "circle", layer.name, title, filter=only, paint=paint))
        elif kind == "linestring":
            paint = {"line-color": colour, "line-width": _zoom([(10, 1.0), (18, 4.0)])}
            out.append(_layer(f"gis-{layer.name}{suffix}", "line", layer.name, title, filter=only, paint=paint))
        else:
            paint = {"fill-color": colour, "fill-opacity": 0.35, "fill-outline-color": colour}
            out.append(_layer(f"gis-{layer.name}{suffix}", "fill", layer.name, title, filter=only, paint=paint))
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
    base = base_url.rstrip("/")
    visible = list(dict.fromkeys(layers))
    entries = {layer.name: layer for layer in catalog}
    en = lang == "en"

    def titles(name: str) -> tuple[str, str]:
        entry = entries.get(name)
        return LAYER_TITLES.get(name) or ((entry.title_fr, entry.title_en) if entry else (name, name))

    def title(name: str) -> str:
        return titles(name)[en]

    show = set(visible)
    out: list[dict[str, Any]] = [
        _layer("background", "background", None, "Fond" if not en else "Background",
               paint={"background-color": "#f2efe9"})
    ]
    if "buildings" in show:
        out.append(_layer(
            "buildings", "fill", "buildings", title("buildings"), minzoom=13,
            paint={"fill-color": _BUILDING_COLOUR, "fill-outline-color": "#c2b5a3",
                   "fill-opacity": _zoom([(13, 0.6), (15, 1.0)])},
        ))
    if "road_edges" in show:
        out += _road_layers(title("road_edges"))
    if "water_pipes" in show:
        out.append(_layer(
            "water-pipes", "line", "water_pipes", title("water_pipes"), minzoom=12,
            layout={"line-join": "round", "line-cap": "round"},
            paint={"line-color": "#0277bd", "line-opacity": 0.9, "line-width": _zoom([(12, 0.8), (16, 2.5), (19, 5)])},
        ))
    for name, layer_id in (("water_valves", "water-valves-line"), ("water_pumps", "water-pumps-line")):
        if name in show:
            out.append(_layer(
                layer_id, "line", name, title(name), minzoom=14,
                paint={"line-color": "#01579b", "line-width": _zoom([(14, 2.0), (18, 6.0)])},
            ))
    if "water_junctions" in show:
        out.append(_layer(
            "water-junctions", "circle", "water_junctions", title("water_junctions"), minzoom=15,
            paint={"circle-radius": _zoom([(15, 1.5), (19, 4)]), "circle-color": "#4fc3f7",
                   "circle-stroke-color": "#01579b", "circle-stroke-width": 0.8},
        ))
    if "buildings" in show:
        out.append(_layer(
            "buildings-3d", "fill-extrusion", "buildings", title("buildings"), minzoom=13,
            layout={"visibility": "none"},
            paint={"fill-extrusion-color": _BUILDING_COLOUR, "fill-extrusion-height": _BUILDING_HEIGHT,
                   "fill-extrusion-base": 0, "fill-extrusion-opacity": 0.85},
        ))
    if "road_nodes" in show:
        out.append(_layer(
            "road-nodes", "circle", "road_nodes", title("road_nodes"), minzoom=16,
            paint={"circle-radius": _zoom([(16, 1.5), (19, 3.5)]), "circle-color": "#ffffff",
                   "circle-stroke-color": "#9e9e9e", "circle-stroke-width": 0.8},
        ))
    if "street_lights" in show:
        out.append(_layer(
            "street-lights", "circle", "street_lights", title("street_lights"), minzoom=16,
            paint={"circle-radius": _zoom([(16, 2.5), (19, 5)]), "circle-color": "#ffd54f",
                   "circle-stroke-color": "#6d4c41", "circle-stroke-width": 1},
        ))
    for name in visible:
        if name not in LAYER_TITLES and name in entries:
            out += _generic_layers(entries[name], title(name))
    if "road_edges" in show:
        out.append(_layer(
            "roads-label", "symbol", "road_edges", title("road_edges"), minzoom=13,
            filter=["has", "name"],
            layout={"symbol-placement": "line", "text-field": ["get", "name"], "text-font": FONT_REGULAR,
                    "text-size": _zoom([(13, 10), (18, 14)]), "symbol-spacing": 300,
                    "text-max-angle": 30, "text-padding": 2},
            paint=_HALO,
        ))
    for name, layer_id, image in (("water_valves", "water-valves", "water-valve"),
                                  ("water_pumps", "water-pumps", "water-pump")):
        if name in show:
            out.append(_layer(
                layer_id, "symbol", name, title(name), minzoom=14,
                layout={"symbol-placement": "line-center", "icon-image": image,
                        "icon-rotation-alignment": "viewport", "icon-allow-overlap": True},
            ))
    if "water_tanks" in show:
        out.append(_icon_layer("water-tanks", "water_tanks", title("water_tanks"), "water-tank", 12))
    if "water_reservoirs" in show:
        out.append(_icon_layer("water-reservoirs", "water_reservoirs", title("water_reservoirs"), "water-reservoir", 12))
    if "sensors" in show:
        out.append(_icon_layer("sensors", "sensors", title("sensors"), "sensor", 12))
    if "critical_sites" in show:
        icon: list[Any] = ["match", ["get", "kind"]]
        kind_title: list[Any] = ["match", ["get", "kind"]]
        for kind in SITE_KINDS[:-1]:
            icon += [kind, f"site-{kind}"]
            kind_title += [kind, SITE_TITLES[kind][en]]
        icon.append("site-other")
        kind_title.append(SITE_TITLES["other"][en])
        out.append(_layer(
            "critical-sites", "symbol", "critical_sites", title("critical_sites"), minzoom=10,
            layout={"icon-image": icon, "icon-size": _zoom([(10, 0.6), (14, 1.0)]), "icon-allow-overlap": True,
                    **_symbol_label(13, ["coalesce", ["get", "name"], kind_title],
                                    **{"text-font": FONT_BOLD, "text-offset": [0, 1.3]})},
            paint=_HALO,
        ))
    return {
        "version": 8,
        "name": _STYLE_NAMES[lang],
        "metadata": _metadata(out, visible, lang, titles),
        "sources": {SOURCE: {"type": "vector", "url": f"{base}/tiles/tilejson.json"}},
        "sprite": f"{base}/tiles/sprites/sprite",
        "glyphs": f"{base}/tiles/glyphs/{{fontstack}}/{{range}}.pbf",
        "layers": out,
    }


def _metadata(
    style_layers: list[dict[str, Any]], visible: list[str], lang: str, titles: Callable[[str], tuple[str, str]]
) -> dict[str, Any]:
    """The legend the console draws: per visible source-layer its titles and style layer ids."""
    legend = []
    for name in visible:
        ids = [layer["id"] for layer in style_layers if layer.get("source-layer") == name]
        if not ids:
            continue
        fr, en = titles(name)
        legend.append({"source-layer": name, "title": en if lang == "en" else fr, "title_fr": fr,
                       "title_en": en, "layers": ids})
    out: dict[str, Any] = {"hyperviseur:lang": lang, "hyperviseur:legend": legend}
    if "critical_sites" in visible:
        out["hyperviseur:site-kinds"] = [
            {"kind": kind, "icon": f"site-{kind}", "title": SITE_TITLES[kind][lang == "en"],
             "title_fr": SITE_TITLES[kind][0], "title_en": SITE_TITLES[kind][1]}
            for kind in SITE_KINDS
        ]
    if "buildings" in visible:
        out["hyperviseur:toggles"] = {"3d": {"show": ["buildings-3d"], "hide": ["buildings"]}}
    return out
