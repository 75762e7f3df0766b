"""Import one GIS file (GeoPackage, GeoJSON, Shapefile) into one layer of a territory, in one transaction.

Targets: ``street_lights``, ``buildings``, ``critical_sites``, ``roads`` (centre-lines turned into the road
graph, see ``_gis_roads``), or any other lowercase name, stored in ``twin.gis_features`` and listed in
``twin.layer_catalog``. Every feature keeps all its source attributes, under their original names and with
their original values, in the ``attributes`` column.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely

from layers.importers._gis_fields import find_field, normalise, number_values, source_attributes, text_values
from layers.importers._gis_roads import road_graph_from_lines
from layers.importers._gis_validate import (
    DEDICATED_LAYERS,
    Progress,
    assign_crs,
    crs_label,
    metric_epsg_for,
    quiet,
    read_source,
    validate_coordinates,
    validate_encoding,
    validate_geometries,
    validate_layer_name,
    validate_path,
    validate_territory_name,
)
from layers.model import CRITICAL_SITE_KINDS, ImportReport
from layers.store import delete_layer, ensure_territory, store_layer, store_road_graph
from twin.crs import WGS84, validate_epsg
from twin.db import connect
from twin.errors import ImportRejected, InvalidInput

__all__ = ["DEDICATED_LAYERS", "import_gis"]

PERSONS_PER_M2 = 1 / 40  # the schema's residents estimate: residential floor area / 40 m2 per person

_RESIDENTIAL_USES = {"residential", "residentiel", "habitation", "logement", "house", "apartments", "maison"}
# Keywords (accents stripped, lowercase) that name a critical-site kind in French or English sources.
_KIND_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("nursing_home", ("nursing", "ehpad", "maison de retraite")),
    ("hospital", ("hospital", "hopital", "chu", "centre hospitalier")),
    ("clinic", ("clinic", "clinique", "dispensaire", "centre de sante")),
    ("kindergarten", ("kindergarten", "creche", "maternelle", "garderie")),
    ("school", ("school", "ecole", "college", "lycee", "universite", "university", "faculte")),
    ("fire_station", ("fire", "pompier", "sdis", "caserne")),
    ("police", ("police", "gendarmerie", "commissariat")),
    ("town_hall", ("town_hall", "townhall", "mairie", "hotel de ville")),
    ("water_works", ("water_works", "eau potable", "station d'epuration", "captage", "chateau d'eau")),
    ("pharmacy", ("pharmac",)),
    ("shelter", ("shelter", "abri", "refuge", "hebergement")),
    ("power_substation", ("substation", "poste source", "poste electrique", "transformateur")),
)
# A keyword matches at the start of a word ("pharmac" in "pharmacie"); short ones only as whole words
# ("chu" is the CHU, not "chute").
_KIND_PATTERNS = tuple(
    (kind, re.compile("|".join(r"\b" + re.escape(w) + (r"\b" if len(w) <= 4 else "") for w in words)))
    for kind, words in _KIND_KEYWORDS
)


def import_gis(
    url: str,
    path: Path | str,
    *,
    layer: str,
    territory_name: str,
    crs: str | int | None = None,
    encoding: str | None = None,
    source_layer: str | None = None,
    append: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a GIS file into one layer of a territory; write everything in one transaction or nothing.

    Parameters
    ----------
    url : str
        PostgreSQL URL of the twin database.
    path : Path or str
        GeoPackage, GeoJSON, Shapefile, or a ``.zip`` holding one shapefile.
    layer : str
        ``street_lights``, ``buildings``, ``critical_sites``, ``roads`` (the road graph), or a new name
        matching ``^[a-z][a-z0-9_]{0,62}$`` stored as generic GIS features and listed in the layer catalog.
    territory_name : str
        Territory to import into; created when missing, its metric CRS chosen from the data's centroid.
    crs : str or int, optional
        CRS of the coordinates (EPSG code). Needed when the file declares none (a shapefile without its
        ``.prj``); when given it overrides what the file declares (GeoJSON written in Lambert-93 but read
        as WGS84).
    encoding : str, optional
        Encoding of text attributes, e.g. ``latin-1`` for old French shapefiles without a ``.cpg``.
    source_layer : str, optional
        Layer to read in a multi-layer file; required when there is more than one.
    append : bool, default False
        Add to the layer's features instead of replacing them (not for ``roads``).
    progress : callable, optional
        Receives one human-readable line per step.

    Returns
    -------
    ImportReport
        Features kept per table, and the ids of those repaired or rejected with the reason.

    Raises
    ------
    InvalidInput
        Bad layer name, unknown CRS or encoding, file not found.
    ImportRejected
        The file cannot be read, has no CRS, has the wrong geometry type for the layer, or its coordinates
        do not fit its CRS. The database is unchanged.
    """
    started = time.perf_counter()
    say = progress or quiet
    validate_layer_name(layer)
    territory = validate_territory_name(territory_name)
    forced_epsg = validate_epsg(crs) if crs is not None and str(crs).strip() else None
    gdal_encoding = validate_encoding(encoding)
    if append and layer == "roads":
        raise InvalidInput("--append is not supported for roads: a road graph is replaced as a whole")
    path = validate_path(path)
    report = ImportReport()

    say(f"reading {path.name} …")
    frame = read_source(path, source_layer=source_layer, encoding=gdal_encoding)
    frame = assign_crs(frame, path, forced_epsg, report)
    validate_coordinates(frame, path)
    say(f"{len(frame)} features read, CRS {crs_label(frame.crs)}")

    with connect(url) as conn:
        row = conn.execute("SELECT id, crs_epsg FROM twin.territory WHERE name = %s", (territory,)).fetchone()
        metric_epsg = int(row["crs_epsg"]) if row else metric_epsg_for(frame)
        metric = validate_geometries(frame.to_crs(metric_epsg), layer, path, report)
        say(f"validated in EPSG:{metric_epsg}: {len(metric)} features usable")
        tid = (
            int(row["id"])
            if row
            else ensure_territory(conn, name=territory, crs_epsg=metric_epsg, source=f"gis:{path.name}")
        )
        if layer == "roads":
            nodes, edges = road_graph_from_lines(metric, report)
            delete_layer(conn, tid, "road_edges")
            delete_layer(conn, tid, "road_nodes")
            say(f"writing {len(nodes)} road nodes and {len(edges)} arcs …")
            n_nodes, n_edges = store_road_graph(conn, tid, nodes, edges)
            report.kept["roads"] = int(edges["source_id"].nunique())
            report.kept["road_nodes"], report.kept["road_edges"] = n_nodes, n_edges
        else:
            table, stored = _layer_frame(metric, layer, report)
            if not append:
                delete_layer(conn, tid, table, gis_layer=layer)
            say(f"writing {len(stored)} features to {table} …")
            report.kept[layer] = store_layer(conn, tid, table, stored)
            if table == "gis_features":
                _upsert_catalog(conn, layer, metric)
    report.notes.append(f"imported {path.name} into {territory!r} in {time.perf_counter() - started:.1f} s")
    say(f"done: {path.name} → {layer} of {territory!r}")
    return report


def _layer_frame(metric: gpd.GeoDataFrame, layer: str, report: ImportReport) -> tuple[str, gpd.GeoDataFrame]:
    """Map validated features (metric CRS) to the columns of their table; return (table, frame in 4326)."""
    columns: dict[str, Any] = {
        "source_id": metric["_feature_id"].to_numpy(),
        "attributes": source_attributes(metric),
    }
    geometry = metric.geometry
    if layer == "street_lights":
        table = "street_lights"
        geometry = _single_points(geometry, layer, metric, report)
        lamp = text_values(
            metric,
            find_field(metric, ("lamp_type", "type_lante", "type_lanterne", "lanterne", "lamp", "type")),
        )
        columns["lamp_type"] = np.array([v.lower() if v else None for v in lamp], dtype=object)
        columns["power_w"] = number_values(
            metric, find_field(metric, ("power_w", "puissance", "puiss", "power", "wattage"))
        )
    elif layer == "critical_sites":
        table = "critical_sites"
        if (geometry.geom_type.isin(["Polygon", "MultiPolygon"])).any():
            report.notes.append("critical_sites given as areas are stored at a point inside each area")
            geometry = geometry.where(
                ~geometry.geom_type.isin(["Polygon", "MultiPolygon"]), geometry.representative_point()
            )
        geometry = _single_points(geometry, layer, metric, report)
        columns["name"] = text_values(metric, find_field(metric, ("name", "nom", "libelle", "designation")))
        kind_field = find_field(metric, ("kind", "type", "categorie", "category", "nature", "amenity"))
        columns["kind"] = [_site_kind(v) for v in text_values(metric, kind_field)]
    elif layer == "buildings":
        table = "buildings"
        columns.update(_building_columns(metric))
        geometry = geometry.map(lambda g: shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g)
    else:
        table = "gis_features"
        columns["layer"] = np.full(len(metric), layer, dtype=object)
    frame = gpd.GeoDataFrame(columns, geometry=geometry.to_numpy(), crs=metric.crs, index=metric.index)
    frame = frame.loc[~frame.geometry.isna()]
    return table, frame.to_crs(WGS84)


def _single_points(
    geometry: gpd.GeoSeries, layer: str, metric: gpd.GeoDataFrame, report: ImportReport
) -> gpd.GeoSeries:
    """Points as they are; a MultiPoint of one point becomes that point; larger ones are rejected."""
    out = geometry.copy()
    for idx in geometry.index[geometry.geom_type == "MultiPoint"]:
        parts = shapely.get_parts(geometry[idx])
        if len(parts) == 1:
            out[idx] = parts[0]
        else:
            report.reject(
                layer, metric.at[idx, "_feature_id"], f"MultiPoint of {len(parts)} points; one per feature"
            )
            out[idx] = None
    return out


def _site_kind(value: str | None) -> str:
    """The schema's kind for a source value, e.g. 'École primaire' → 'school'; unknown → 'other'.

    Examples
    --------
    >>> _site_kind("Centre Hospitalier Universitaire"), _site_kind("CHU"), _site_kind("Chute d'eau")
    ('hospital', 'hospital', 'other')
    """
    if not value:
        return "other"
    key = normalise(value)
    if key in CRITICAL_SITE_KINDS:
        return key
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(key):
            return kind
    return "other"


def _building_columns(metric: gpd.GeoDataFrame) -> dict[str, Any]:
    """name, use, height, levels, area and residents estimate; area in m² of the territory's metric CRS.

    ``use`` is the source's usage field as it is: in Montpellier's public-buildings file that is TYPE,
    the cadastre's construction class (D = bâti dur, L = bâti léger), all non-residential.
    """
    area_m2 = metric.geometry.area.to_numpy()
    use = text_values(metric, find_field(metric, ("use", "usage", "building", "nature", "type")))
    levels = number_values(
        metric,
        find_field(metric, ("levels", "building_levels", "nb_etages", "etages", "niveaux", "nb_niveaux")),
    )
    residential = np.array([bool(u) and normalise(u) in _RESIDENTIAL_USES for u in use])
    floors = np.where(np.isnan(levels), 1.0, np.maximum(levels, 1.0))
    return {
        "name": text_values(metric, find_field(metric, ("name", "nom", "patrlib", "libelle"))),
        "use": use,
        "height_m": number_values(metric, find_field(metric, ("height_m", "height", "hauteur", "haut"))),
        "levels": np.array([None if np.isnan(n) else int(round(n)) for n in levels], dtype=object),
        "area_m2": area_m2,
        # Only residential buildings house people; the rest (public buildings, churches) count 0.
        "residents_est": np.where(residential, np.floor(area_m2 * floors * PERSONS_PER_M2), 0).astype(int),
    }


def _upsert_catalog(conn: psycopg.Connection[dict[str, Any]], layer: str, metric: gpd.GeoDataFrame) -> None:
    """List a generic layer in twin.layer_catalog; refuse a name the catalog uses for another table.

    A re-import refreshes the geometry type and fields but keeps titles and visibility, which GIS staff
    may have edited since.
    """
    row = conn.execute("SELECT table_name FROM twin.layer_catalog WHERE name = %s", (layer,)).fetchone()
    if row and row["table_name"] != "gis_features":
        raise ImportRejected(
            f"layer name {layer!r} is already used by table {row['table_name']}: choose another"
        )
    columns = [c for c in metric.columns if not c.startswith("_") and c != metric.geometry.name]
    fields = [{"name": c, "type": _field_type(metric[c]), "title_fr": c, "title_en": c} for c in columns]
    title = layer.replace("_", " ").capitalize()
    conn.execute(
        "INSERT INTO twin.layer_catalog (name, table_name, layer_filter, title_fr, title_en, geometry_type,"
        " fields, visibility) VALUES (%s, 'gis_features', %s, %s, %s, %s, %s::jsonb, 'internal')"
        " ON CONFLICT (name) DO UPDATE SET layer_filter = EXCLUDED.layer_filter,"
        " geometry_type = EXCLUDED.geometry_type, fields = EXCLUDED.fields",
        (layer, layer, title, title, _geometry_type(metric.geometry), json.dumps(fields, ensure_ascii=False)),
    )


def _field_type(series: pd.Series) -> str:
    """The catalog's type of a source column (the vocabulary of the built-in layers)."""
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "number"
    return "string"  # dates included: attributes hold them as ISO 8601 text


def _geometry_type(geometry: gpd.GeoSeries) -> str:
    """One OGC type for the layer: the multi type when single and multi parts mix, else Geometry."""
    types = set(geometry.geom_type.dropna())
    if len(types) == 1:
        return types.pop()
    bases = {t.removeprefix("Multi") for t in types}
    return f"Multi{bases.pop()}" if len(bases) == 1 else "Geometry"
