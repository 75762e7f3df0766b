"""Territory schema: territory, road graph, buildings, critical sites, street lights, water network,
sensors, GIS layers and the layer catalog.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import json
from importlib import resources

from alembic import op
from sqlalchemy import text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _f(name: str, kind: str, fr: str, en: str) -> dict[str, str]:
    return {"name": name, "type": kind, "title_fr": fr, "title_en": en}


_WATER_NODE = [
    _f("name", "string", "Identifiant", "Identifier"),
    _f("elevation_m", "number", "Altitude (m)", "Elevation (m)"),
]
_WATER_LINK = [
    _f("name", "string", "Identifiant", "Identifier"),
    _f("start_node", "string", "Nœud amont", "Start node"),
    _f("end_node", "string", "Nœud aval", "End node"),
]

# (name, title_fr, title_en, description_fr, geometry_type, fields, visibility, editable, order)
BUILTIN_LAYERS = [
    (
        "road_edges",
        "Voirie (tronçons)",
        "Road network (arcs)",
        "Tronçons orientés du graphe routier circulable, avec longueur, vitesse et temps de parcours.",
        "LineString",
        [
            _f("name", "string", "Nom de la voie", "Street name"),
            _f("highway", "string", "Classe de voie", "Road class"),
            _f("oneway", "boolean", "Sens unique", "One-way"),
            _f("length_m", "number", "Longueur (m)", "Length (m)"),
            _f("speed_kph", "number", "Vitesse (km/h)", "Speed (km/h)"),
            _f("travel_time_s", "number", "Temps de parcours (s)", "Travel time (s)"),
            _f("source_node", "integer", "Nœud de départ", "From node"),
            _f("target_node", "integer", "Nœud d'arrivée", "To node"),
        ],
        "public",
        True,
        10,
    ),
    (
        "road_nodes",
        "Voirie (carrefours)",
        "Road network (nodes)",
        "Carrefours et extrémités du graphe routier.",
        "Point",
        [_f("street_count", "integer", "Nombre de voies", "Street count")],
        "public",
        False,
        11,
    ),
    (
        "buildings",
        "Bâtiments",
        "Buildings",
        "Emprises des bâtiments, hauteur, usage et population estimée.",
        "MultiPolygon",
        [
            _f("name", "string", "Nom", "Name"),
            _f("use", "string", "Usage", "Use"),
            _f("height_m", "number", "Hauteur (m)", "Height (m)"),
            _f("levels", "integer", "Niveaux", "Levels"),
            _f("area_m2", "number", "Emprise (m²)", "Footprint (m²)"),
            _f("residents_est", "integer", "Habitants estimés", "Estimated residents"),
        ],
        "internal",
        True,
        20,
    ),
    (
        "critical_sites",
        "Sites sensibles",
        "Critical sites",
        "Hôpitaux, écoles, EHPAD, casernes, commissariats, mairies, usines d'eau…",
        "Point",
        [_f("name", "string", "Nom", "Name"), _f("kind", "string", "Type de site", "Site kind")],
        "internal",
        True,
        30,
    ),
    (
        "street_lights",
        "Éclairage public",
        "Street lights",
        "Points lumineux de l'éclairage public.",
        "Point",
        [
            _f("lamp_type", "string", "Type de lanterne", "Lamp type"),
            _f("power_w", "number", "Puissance (W)", "Power (W)"),
        ],
        "public",
        True,
        40,
    ),
    (
        "water_junctions",
        "Eau : nœuds",
        "Water: junctions",
        "Nœuds du réseau d'eau potable.",
        "Point",
        _WATER_NODE + [_f("base_demand_m3_s", "number", "Demande de base (m³/s)", "Base demand (m³/s)")],
        "restricted",
        True,
        50,
    ),
    (
        "water_pipes",
        "Eau : canalisations",
        "Water: pipes",
        "Canalisations du réseau d'eau potable.",
        "LineString",
        _WATER_LINK
        + [
            _f("length_m", "number", "Longueur (m)", "Length (m)"),
            _f("diameter_m", "number", "Diamètre (m)", "Diameter (m)"),
            _f("status", "string", "État", "Status"),
        ],
        "restricted",
        True,
        51,
    ),
    (
        "water_valves",
        "Eau : vannes",
        "Water: valves",
        "Vannes du réseau d'eau potable.",
        "LineString",
        _WATER_LINK + [_f("valve_type", "string", "Type de vanne", "Valve type")],
        "restricted",
        True,
        52,
    ),
    (
        "water_pumps",
        "Eau : pompes",
        "Water: pumps",
        "Pompes du réseau d'eau potable.",
        "LineString",
        _WATER_LINK + [_f("pump_type", "string", "Type de pompe", "Pump type")],
        "restricted",
        True,
        53,
    ),
    (
        "water_tanks",
        "Eau : réservoirs",
        "Water: tanks",
        "Réservoirs (châteaux d'eau, bâches).",
        "Point",
        _WATER_NODE + [_f("max_level_m", "number", "Niveau max (m)", "Max level (m)")],
        "restricted",
        True,
        54,
    ),
    (
        "water_reservoirs",
        "Eau : ressources",
        "Water: sources",
        "Ressources (captages, réservoirs infinis).",
        "Point",
        [
            _f("name", "string", "Identifiant", "Identifier"),
            _f("base_head_m", "number", "Charge (m)", "Head (m)"),
        ],
        "restricted",
        True,
        55,
    ),
    (
        "sensors",
        "Capteurs",
        "Sensors",
        "Capteurs et leur actif de rattachement.",
        "Point",
        [
            _f("name", "string", "Nom", "Name"),
            _f("kind", "string", "Grandeur", "Kind"),
            _f("unit", "string", "Unité", "Unit"),
        ],
        "internal",
        True,
        60,
    ),
]


def upgrade() -> None:
    sql = resources.files("twin.migrations").joinpath("sql/0001_territory_schema.sql").read_text()
    op.execute(text(sql))
    for (
        name,
        title_fr,
        title_en,
        description,
        geometry_type,
        fields,
        visibility,
        editable,
        order,
    ) in BUILTIN_LAYERS:
        op.execute(
            text(
                "INSERT INTO twin.layer_catalog (name, table_name, title_fr, title_en, description_fr,"
                " geometry_type, fields, visibility, editable, sort_order)"
                " VALUES (:name, :name, :title_fr, :title_en, :description, :geometry_type,"
                " CAST(:fields AS jsonb), :visibility, :editable, :order)"
            ).bindparams(
                name=name,
                title_fr=title_fr,
                title_en=title_en,
                description=description,
                geometry_type=geometry_type,
                fields=json.dumps(fields, ensure_ascii=False),
                visibility=visibility,
                editable=editable,
                order=order,
            )
        )


def downgrade() -> None:
    op.execute("DROP SCHEMA twin CASCADE")
