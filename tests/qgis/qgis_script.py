"""Drive the real QGIS, headless, through a GIS editor's round trip: OGC API Features, vector tiles, PostGIS edit.

Run by Debian's system Python (``/usr/bin/python3``, where the QGIS 3.22 bindings live), never by the project's
virtualenv; ``tests/qgis/test_qgis_round_trip.py`` starts it. It reads one JSON object on stdin::

    {"server": "http://127.0.0.1:PORT", "token": "hv_...",
     "pg": {"host": "127.0.0.1", "port": 5432, "dbname": "hyperviseur", "user": "gis_x", "password": "..."},
     "out_dir": "/tmp/shots", "profile_dir": "/tmp/qgis-profile",
     "edit": {"table": "street_lights", "id": 13, "field": "power_w", "value": 75.0, "move_to": [7.42, 43.73]},
     "center": [7.42, 43.73]}

and writes one JSON object per line on stdout, flushed as it happens (``{"event": "oapif", ...}``,
``{"event": "committed", "at": <epoch s>, ...}``, ..., ``{"event": "done", ...}``), so that the caller can start
watching the server the moment the edit is committed. Anything QGIS itself prints goes to stderr.
The password comes on stdin rather than the command line so that it never shows in the process list.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QGIS_PREFIX_PATH", "/usr")

from qgis.core import (  # noqa: E402  (the environment above must be set before Qt loads)
    Qgis,
    QgsApplication,
    QgsAuthMethodConfig,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsGeometry,
    QgsLineSymbol,
    QgsMapLayer,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsMarkerSymbol,
    QgsNetworkAccessManager,
    QgsPalLayerSettings,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
    QgsRuleBasedRenderer,
    QgsSingleSymbolRenderer,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
    QgsVectorTileBasicRenderer,
    QgsVectorTileBasicRendererStyle,
    QgsVectorTileLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QByteArray, QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

WEB_MERCATOR = QgsCoordinateReferenceSystem("EPSG:3857")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
IMAGE_SIZE = QSize(900, 600)
# Metres of map around the edited feature in the before/after screenshots, and around the OAPIF/tile views.
EDIT_VIEW_M = 90.0
AREA_VIEW_M = 700.0


def emit(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}, default=str), flush=True)


def start_qgis(profile_dir: str) -> QgsApplication:
    QgsApplication.setPrefixPath(os.environ["QGIS_PREFIX_PATH"], True)
    app = QgsApplication([], False, profile_dir)
    app.initQgis()
    return app


# -- styles ------------------------------------------------------------------------------------------------------


def point_symbol(color: str, size_mm: float, outline: str = "#ffffff") -> QgsMarkerSymbol:
    return QgsMarkerSymbol.createSimple(
        {
            "name": "circle",
            "color": color,
            "size": str(size_mm),
            "outline_color": outline,
            "outline_width": "0.4",
        }
    )


def line_symbol(color: str, width_mm: float) -> QgsLineSymbol:
    return QgsLineSymbol.createSimple({"color": color, "width": str(width_mm), "capstyle": "round"})


def fill_symbol(color: str, outline: str) -> QgsFillSymbol:
    return QgsFillSymbol.createSimple({"color": color, "outline_color": outline, "outline_width": "0.2"})


def style_vector_layer(layer: QgsVectorLayer) -> None:
    """A plain, readable symbology per geometry type (QGIS's default is a random colour)."""
    geometry = layer.geometryType()
    if geometry == QgsWkbTypes.PointGeometry:
        symbol = point_symbol("#f59e0b", 2.6, "#78350f")
    elif geometry == QgsWkbTypes.LineGeometry:
        symbol = line_symbol("#64748b", 0.6)
    else:
        symbol = fill_symbol("#cbd5e1", "#475569")
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))


def style_vector_tiles(layer: QgsVectorTileLayer) -> None:
    styles = []
    buildings = QgsVectorTileBasicRendererStyle("buildings", "buildings", QgsWkbTypes.PolygonGeometry)
    buildings.setSymbol(fill_symbol("#cbd5e1", "#475569"))
    styles.append(buildings)
    roads = QgsVectorTileBasicRendererStyle("roads", "road_edges", QgsWkbTypes.LineGeometry)
    roads.setSymbol(line_symbol("#64748b", 0.6))
    styles.append(roads)
    lights = QgsVectorTileBasicRendererStyle("lights", "street_lights", QgsWkbTypes.PointGeometry)
    lights.setSymbol(point_symbol("#f59e0b", 2.6, "#78350f"))
    styles.append(lights)
    renderer = QgsVectorTileBasicRenderer()
    renderer.setStyles(styles)
    layer.setRenderer(renderer)


def highlight_feature(layer: QgsVectorLayer, key: str, fid_value: int, label_field: str, unit: str) -> None:
    """The edited feature big and red, labelled with the edited value; the others small and amber."""
    root = QgsRuleBasedRenderer.Rule(None)
    edited = QgsRuleBasedRenderer.Rule(
        point_symbol("#dc2626", 5.0, "#450a0a"), 0, 0, f'"{key}" = {fid_value}'
    )
    edited.setLabel("edited")
    others = QgsRuleBasedRenderer.Rule(point_symbol("#f59e0b", 2.6, "#78350f"), 0, 0, "ELSE")
    root.appendChild(edited)
    root.appendChild(others)
    layer.setRenderer(QgsRuleBasedRenderer(root))
    settings = QgsPalLayerSettings()
    settings.isExpression = True
    settings.fieldName = (
        f"CASE WHEN \"{key}\" = {fid_value} THEN '{label_field} = ' || "
        f"coalesce(to_string(\"{label_field}\") || ' {unit}', 'NULL') END"
    )
    text = QgsTextFormat()
    text.setSize(11)
    text.setColor(QColor("#111827"))
    buffer = text.buffer()
    buffer.setEnabled(True)
    buffer.setSize(1.2)
    buffer.setColor(QColor("#ffffff"))
    text.setBuffer(buffer)
    settings.setFormat(text)
    settings.placement = QgsPalLayerSettings.OverPoint
    settings.dist = 3
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)


# -- rendering ---------------------------------------------------------------------------------------------------


def view_around(lon: float, lat: float, half_width_m: float) -> QgsRectangle:
    """A Web Mercator extent ``2 * half_width_m`` ground metres wide (scaled by 1/cos(lat)), 3:2 like the image."""
    import math

    centre = QgsCoordinateTransform(WGS84, WEB_MERCATOR, QgsProject.instance()).transform(
        QgsPointXY(lon, lat)
    )
    half_w = half_width_m / math.cos(math.radians(lat))
    half_h = half_w * IMAGE_SIZE.height() / IMAGE_SIZE.width()
    return QgsRectangle(centre.x() - half_w, centre.y() - half_h, centre.x() + half_w, centre.y() + half_h)


def render(layers: list[QgsMapLayer], extent: QgsRectangle, path: Path) -> dict[str, Any]:
    """Render ``layers`` (first on top) on white into ``path``; return the time taken and any render errors."""
    settings = QgsMapSettings()
    settings.setDestinationCrs(WEB_MERCATOR)
    settings.setBackgroundColor(QColor("#ffffff"))
    settings.setOutputSize(IMAGE_SIZE)
    settings.setOutputDpi(96)
    settings.setLayers(layers)
    settings.setExtent(extent)
    settings.setFlag(QgsMapSettings.Antialiasing, True)
    settings.setFlag(QgsMapSettings.DrawLabeling, True)
    started = time.perf_counter()
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    if not image.save(str(path), "PNG"):
        raise RuntimeError(f"could not write {path}")
    errors = [f"{e.layerID}: {e.message}" for e in job.errors()]
    return {"path": str(path), "render_s": round(time.perf_counter() - started, 3), "errors": errors}


# -- the steps ---------------------------------------------------------------------------------------------------


def oapif_layer(server: str, collection: str, name: str) -> QgsVectorLayer:
    uri = QgsDataSourceUri()
    uri.setParam("url", f"{server}/ogc")
    uri.setParam("typename", collection)
    uri.setParam("restrictToRequestBBOX", "0")
    return QgsVectorLayer(uri.uri(False), name, "OAPIF")


def count_features(layer: QgsVectorLayer) -> int:
    # Iterate rather than trust featureCount(): that is what makes the provider page through the items.
    return sum(1 for _ in layer.getFeatures())


def install_bearer_token(server: str, token: str) -> str:
    """Send ``Authorization: Bearer`` with every request to ``server``.

    QGIS 3.22 has no way to configure this for an OAPIF connection: the URI knows no ``http-header:`` key
    (that came with QgsHttpHeaders in later releases) and none of its authentication methods (Basic,
    ESRI token, PKI, identity certificate) sends a bearer token. A network request preprocessor, the
    hook plugins use, is what is left.
    """
    header = QByteArray(f"Bearer {token}".encode())

    def add_header(request: Any) -> None:
        if request.url().toString().startswith(server):
            request.setRawHeader(QByteArray(b"Authorization"), header)

    return QgsNetworkAccessManager.setRequestPreprocessor(add_header)


def store_basic_auth(profile_name: str, user: str, password: str) -> str:
    """Keep the PostgreSQL login in QGIS's encrypted authentication database, as docs/qgis.md asks users to."""
    manager = QgsApplication.authManager()
    if not manager.masterPasswordIsSet():
        manager.setMasterPassword("hyperviseur-test-master-password", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName(profile_name)
    config.setConfig("username", user)
    config.setConfig("password", password)
    stored = manager.storeAuthenticationConfig(config)
    ok = stored[0] if isinstance(stored, tuple) else stored
    if not ok or not config.id():
        raise RuntimeError("could not store the authentication configuration")
    return str(config.id())


def postgis_layer(pg: dict[str, Any], authcfg: str, table: str, name: str) -> QgsVectorLayer:
    uri = QgsDataSourceUri()
    uri.setConnection(pg["host"], str(pg["port"]), pg["dbname"], "", "", QgsDataSourceUri.SslDisable, authcfg)
    uri.setDataSource("twin", table, "geom", "", "id")
    return QgsVectorLayer(uri.uri(False), name, "postgres")


def run(args: dict[str, Any]) -> dict[str, Any]:
    server = args["server"].rstrip("/")
    out = Path(args["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    edit = args["edit"]
    lon, lat = args["center"]
    result: dict[str, Any] = {"qgis_version": Qgis.QGIS_VERSION, "timings_s": {}, "screenshots": {}}
    timings = result["timings_s"]
    area = view_around(lon, lat, AREA_VIEW_M)

    # (b) OGC API Features. The public layer anonymously, as any QGIS user can; then the internal buildings
    # layer, first without a session (refused), then with the bearer token.
    started = time.perf_counter()
    lights = oapif_layer(server, "street_lights", "Éclairage public (OGC API)")
    roads = oapif_layer(server, "road_edges", "Voies (OGC API)")
    anonymous_buildings = oapif_layer(server, "buildings", "Bâtiments (anonyme)")
    oapif = {
        "street_lights": {
            "valid": lights.isValid(),
            "features": count_features(lights) if lights.isValid() else 0,
        },
        "road_edges": {"valid": roads.isValid(), "features": count_features(roads) if roads.isValid() else 0},
        "buildings_anonymous": {"valid": anonymous_buildings.isValid()},
    }
    install_bearer_token(server, args["token"])
    buildings = oapif_layer(server, "buildings", "Bâtiments (OGC API)")
    oapif["buildings"] = {
        "valid": buildings.isValid(),
        "features": count_features(buildings) if buildings.isValid() else 0,
    }
    timings["oapif_load"] = round(time.perf_counter() - started, 3)
    for layer in (lights, roads, buildings):
        if layer.isValid():
            style_vector_layer(layer)
    result["oapif"] = oapif
    emit("oapif", **oapif)
    shown = [layer for layer in (lights, roads, buildings) if layer.isValid()]
    if shown:
        shot = render(shown, area, out / "01_oapif.png")
        result["screenshots"]["oapif"] = shot

    # (c) Vector tiles: the combined XYZ endpoint, limited to three layers, with the session (buildings are internal).
    started = time.perf_counter()
    tiles_uri = QgsDataSourceUri()
    tiles_uri.setParam("type", "xyz")
    tiles_uri.setParam(
        "url", f"{server}/tiles/{{z}}/{{x}}/{{y}}.pbf?layers=buildings,road_edges,street_lights"
    )
    tiles_uri.setParam("zmin", "13")
    tiles_uri.setParam("zmax", "16")
    tiles = QgsVectorTileLayer(bytes(tiles_uri.encodedUri()).decode(), "Tuiles vectorielles")
    timings["vector_tiles_load"] = round(time.perf_counter() - started, 3)
    result["vector_tiles"] = {"valid": tiles.isValid(), "source": tiles.source()}
    emit("vector_tiles", **result["vector_tiles"])
    if tiles.isValid():
        style_vector_tiles(tiles)
        result["screenshots"]["vector_tiles"] = render([tiles], area, out / "02_vector_tiles.png")

    # (d) PostGIS with the editor's own login, kept in QGIS's authentication database.
    started = time.perf_counter()
    pg = args["pg"]
    authcfg = store_basic_auth("Hyperviseur (PostGIS)", pg["user"], pg["password"])
    table = edit["table"]
    layer = postgis_layer(pg, authcfg, table, f"{table} (PostGIS)")
    context_buildings = postgis_layer(pg, authcfg, "buildings", "buildings (PostGIS)")
    context_roads = postgis_layer(pg, authcfg, "road_edges", "road_edges (PostGIS)")
    timings["postgis_load"] = round(time.perf_counter() - started, 3)
    result["postgis"] = {"valid": layer.isValid(), "features": layer.featureCount() if layer.isValid() else 0}
    if not layer.isValid():
        result["postgis"]["error"] = layer.error().summary()
        emit("postgis", **result["postgis"])
        return result
    emit("postgis", **result["postgis"])
    for context in (context_buildings, context_roads):
        style_vector_layer(context)
    highlight_feature(layer, "id", int(edit["id"]), edit["field"], edit.get("unit", ""))
    feature = next(
        layer.getFeatures(QgsFeatureRequest().setFilterExpression(f'"id" = {int(edit["id"])}')), None
    )
    if feature is None:
        raise RuntimeError(f"feature id={edit['id']} not found in twin.{table}")
    old_point = feature.geometry().asPoint()
    edit_view = view_around(old_point.x(), old_point.y(), EDIT_VIEW_M)
    context = [layer, context_roads, context_buildings]
    result["screenshots"]["before"] = render(context, edit_view, out / "03_postgis_before.png")

    field_index = layer.fields().indexFromName(edit["field"])
    old_value = feature[edit["field"]]
    started = time.perf_counter()
    if not layer.startEditing():
        raise RuntimeError("startEditing refused")
    changed = layer.changeAttributeValue(feature.id(), field_index, edit["value"])
    moved = True
    if edit.get("move_to"):
        new_lon, new_lat = edit["move_to"]
        moved = layer.changeGeometry(feature.id(), QgsGeometry.fromPointXY(QgsPointXY(new_lon, new_lat)))
    committed = layer.commitChanges()
    committed_at = time.time()
    timings["edit_commit"] = round(time.perf_counter() - started, 3)
    commit = {
        "ok": bool(changed and moved and committed),
        "errors": list(layer.commitErrors()),
        "at": committed_at,
        "feature_id": int(feature["id"]),
        "qgis_fid": int(feature.id()),
        "field": edit["field"],
        "old_value": None if old_value is None or str(old_value) == "NULL" else old_value,
        "new_value": edit["value"],
        "old_point": [old_point.x(), old_point.y()],
    }
    result["commit"] = commit
    emit("committed", **commit)
    if not commit["ok"]:
        return result

    layer.reload()
    after = next(layer.getFeatures(QgsFeatureRequest().setFilterExpression(f'"id" = {int(edit["id"])}')))
    new_point = after.geometry().asPoint()
    commit["reread_value"] = after[edit["field"]]
    commit["new_point"] = [new_point.x(), new_point.y()]
    result["screenshots"]["after"] = render(context, edit_view, out / "04_postgis_after.png")
    emit("reread", value=commit["reread_value"], point=commit["new_point"])
    return result


def main() -> int:
    args = json.loads(sys.stdin.read())
    started = time.perf_counter()
    app = start_qgis(args["profile_dir"])
    code = 0
    try:
        result = run(args)
        result["timings_s"]["total"] = round(time.perf_counter() - started, 3)
        emit("done", **result)
    except Exception as exc:  # report it on the channel the caller reads, then fail
        emit("error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        code = 1
    sys.stdout.flush()
    app.exitQgis()
    return code


if __name__ == "__main__":
    sys.exit(main())
