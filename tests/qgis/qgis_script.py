"""Drive the real QGIS, headless, through a GIS editor's round trip: OGC API Features, vector tiles, PostGIS edit.

Run by Debian's system Python (``/usr/bin/python3``, where the QGIS 3.22 bindings live), never by the project's
virtualenv; ``tests/qgis/test_qgis_round_trip.py`` starts it. It reads one JSON object on stdin::

    {"server": "http://127.0.0.1:PORT", "token": "hv_...",
     "pg": {"host": "127.0.0.1", "port": 5432, "dbname": "hyperviseur", "user": "gis_x", "password": "..."},
     "out_dir": "/tmp/shots", "profile_dir": "/tmp/qgis-profile",
     "edit": {"table": "street_lights", "id": 13, "field": "power_w", "value": 75.0, "unit": "W",
              "move_to": [7.42, 43.73]},
     "center": [7.42, 43.73], "tiles_after_s": 1.0}

and writes one JSON object per line on stdout, flushed as it happens (``{"event": "oapif", ...}``,
``{"event": "committed", "at": <epoch s>, ...}``, ..., ``{"event": "done", ...}``), so that the caller can start
watching the server the moment the edit is committed. Anything QGIS itself prints goes to stderr.
The password comes on stdin rather than the command line so that it never shows in the process list.
"""

from __future__ import annotations

import json
import math
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
    QgsFeature,
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsGeometry,
    QgsLineSymbol,
    QgsMapLayer,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsMarkerSymbol,
    QgsNetworkAccessManager,
    QgsNetworkReplyContent,
    QgsPalLayerSettings,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
    QgsRuleBasedRenderer,
    QgsSingleSymbolRenderer,
    QgsTextBackgroundSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
    QgsVectorTileBasicLabeling,
    QgsVectorTileBasicLabelingStyle,
    QgsVectorTileBasicRenderer,
    QgsVectorTileBasicRendererStyle,
    QgsVectorTileLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QByteArray, QPoint, QSize, QSizeF, Qt  # noqa: E402
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter  # noqa: E402
from qgis.PyQt.QtNetwork import QNetworkRequest  # noqa: E402

WEB_MERCATOR = QgsCoordinateReferenceSystem("EPSG:3857")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
IMAGE_SIZE = QSize(900, 600)
# Metres of map around the edited feature in the before/after screenshots, and around the OAPIF/tile views.
EDIT_VIEW_M = 90.0
AREA_VIEW_M = 700.0


class MessageLog:
    """What QGIS writes to its message log (network errors, provider complaints), kept for the report."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def connect(self) -> None:
        QgsApplication.messageLog().messageReceived.connect(self.receive)

    def receive(self, message: str, tag: str, level: Any) -> None:
        self.messages.append(f"[{tag}] {message}")

    def since(self, mark: int) -> list[str]:
        return self.messages[mark:]


class RequestLog:
    """Every HTTP exchange QGIS has (from any thread: the main manager re-emits them), as ``(status, url)``."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, str]] = []

    def connect(self) -> None:
        QgsNetworkAccessManager.instance().finished.connect(self.receive)

    def receive(self, reply: QgsNetworkReplyContent) -> None:
        status = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
        self.replies.append((int(status) if status is not None else 0, reply.request().url().toString()))

    def summary(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for status, _ in self.replies:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        failed = [f"{status} {url}" for status, url in self.replies if not 200 <= status < 400]
        return {"count": len(self.replies), "statuses": statuses, "failed": failed, "all": self.replies}


LOG = MessageLog()
REQUESTS = RequestLog()


def emit(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}, default=str), flush=True)


def start_qgis(profile_dir: str) -> QgsApplication:
    QgsApplication.setPrefixPath(os.environ["QGIS_PREFIX_PATH"], True)
    app = QgsApplication([], False, profile_dir)
    app.initQgis()
    LOG.connect()
    REQUESTS.connect()
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


def label_settings(expression: str) -> QgsPalLayerSettings:
    """Dark text with a white halo, beside the point."""
    settings = QgsPalLayerSettings()
    settings.isExpression = True
    settings.fieldName = expression
    text = QgsTextFormat()
    text.setSize(11)
    text.setColor(QColor("#111827"))
    buffer = text.buffer()
    buffer.setEnabled(True)
    buffer.setSize(1.2)
    buffer.setColor(QColor("#ffffff"))
    text.setBuffer(buffer)
    background = text.background()
    background.setEnabled(True)
    background.setType(QgsTextBackgroundSettings.ShapeRectangle)
    background.setSizeType(QgsTextBackgroundSettings.SizeBuffer)
    background.setSize(QSizeF(0.8, 0.4))
    background.setFillColor(QColor(255, 255, 255, 235))
    background.setStrokeColor(QColor("#94a3b8"))
    background.setStrokeWidth(0.2)
    text.setBackground(background)
    settings.setFormat(text)
    settings.placement = QgsPalLayerSettings.AroundPoint
    settings.dist = 4.0
    return settings


def edited_label(key: str, fid_value: int, field: str, unit: str) -> str:
    return (
        f"CASE WHEN \"{key}\" = {fid_value} THEN '{field} = ' || "
        f"coalesce(to_string(\"{field}\") || ' {unit}', 'NULL') END"
    )


def style_vector_tiles(layer: QgsVectorTileLayer, edited: dict[str, Any] | None = None) -> None:
    """Buildings, roads and street lights; with ``edited``, that feature big, red and labelled."""
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
    if edited is not None:
        # Styles draw in order: the edited feature last, on top of its plain amber copy.
        mark = QgsVectorTileBasicRendererStyle("edited", edited["table"], QgsWkbTypes.PointGeometry)
        mark.setSymbol(point_symbol("#dc2626", 5.0, "#450a0a"))
        mark.setFilterExpression(f'"id" = {int(edited["id"])}')
        styles.append(mark)
        label = QgsVectorTileBasicLabelingStyle()
        label.setStyleName("edited")
        label.setLayerName(edited["table"])
        label.setGeometryType(QgsWkbTypes.PointGeometry)
        label.setFilterExpression(f'"id" = {int(edited["id"])}')
        label.setLabelSettings(
            label_settings(edited_label("id", int(edited["id"]), edited["field"], edited.get("unit", "")))
        )
        labeling = QgsVectorTileBasicLabeling()
        labeling.setStyles([label])
        layer.setLabeling(labeling)
    renderer.setStyles(styles)
    layer.setRenderer(renderer)


def highlight_feature(layer: QgsVectorLayer, edited: dict[str, Any]) -> None:
    """The edited feature big and red, labelled with the edited value; the others small and amber."""
    fid_value = int(edited["id"])
    root = QgsRuleBasedRenderer.Rule(None)
    mark = QgsRuleBasedRenderer.Rule(point_symbol("#dc2626", 5.0, "#450a0a"), 0, 0, f'"id" = {fid_value}')
    others = QgsRuleBasedRenderer.Rule(point_symbol("#f59e0b", 2.6, "#78350f"), 0, 0, "ELSE")
    root.appendChild(mark)
    root.appendChild(others)
    layer.setRenderer(QgsRuleBasedRenderer(root))
    layer.setLabeling(
        QgsVectorLayerSimpleLabeling(
            label_settings(edited_label("id", fid_value, edited["field"], edited.get("unit", "")))
        )
    )
    layer.setLabelsEnabled(True)


def ghost_layer(lon: float, lat: float) -> QgsVectorLayer:
    """A dashed ring where the feature stood before it was moved."""
    layer = QgsVectorLayer("Point?crs=EPSG:4326&field=label:string", "before", "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(lon, lat)))
    feature.setAttribute("label", "avant")
    layer.dataProvider().addFeatures([feature])
    ring = QgsMarkerSymbol.createSimple(
        {
            "name": "circle",
            "color": "0,0,0,0",
            "size": "5.0",
            "outline_color": "#7f1d1d",
            "outline_style": "dash",
            "outline_width": "0.5",
        }
    )
    layer.setRenderer(QgsSingleSymbolRenderer(ring))
    settings = label_settings('"label"')
    settings.placement = QgsPalLayerSettings.AroundPoint
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)
    return layer


# -- rendering ---------------------------------------------------------------------------------------------------


def view_around(lon: float, lat: float, half_width_m: float) -> QgsRectangle:
    """A Web Mercator extent ``2 * half_width_m`` ground metres wide (scaled by 1/cos(lat)), 3:2 like the image."""
    centre = QgsCoordinateTransform(WGS84, WEB_MERCATOR, QgsProject.instance()).transform(
        QgsPointXY(lon, lat)
    )
    half_w = half_width_m / math.cos(math.radians(lat))
    half_h = half_w * IMAGE_SIZE.height() / IMAGE_SIZE.width()
    return QgsRectangle(centre.x() - half_w, centre.y() - half_h, centre.x() + half_w, centre.y() + half_h)


def add_caption(image: QImage, caption: str) -> None:
    painter = QPainter(image)
    try:
        font = QFont("DejaVu Sans")
        font.setPixelSize(15)
        painter.setFont(font)
        box = painter.fontMetrics().boundingRect(caption).adjusted(-8, -5, 8, 5)
        box.moveTopLeft(QPoint(10, 10))
        painter.fillRect(box, QColor(255, 255, 255, 230))
        painter.setPen(QColor("#94a3b8"))
        painter.drawRect(box)
        painter.setPen(QColor("#111827"))
        painter.drawText(box, Qt.AlignCenter, caption)
    finally:
        painter.end()


def render(layers: list[QgsMapLayer], extent: QgsRectangle, path: Path, caption: str) -> dict[str, Any]:
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
    add_caption(image, caption)
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
        if request.url().toString().startswith(server + "/"):
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


def tile_layer(server: str, layers: list[str], name: str) -> QgsVectorTileLayer:
    """The combined XYZ endpoint limited to ``layers`` (as *Add Vector Tile Layer → New Generic Connection*)."""
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", f"{server}/tiles/{{z}}/{{x}}/{{y}}.pbf?layers={','.join(layers)}")
    uri.setParam("zmin", "13")
    uri.setParam("zmax", "16")
    return QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), name)


def find_feature(layer: QgsVectorLayer, feature_id: int) -> QgsFeature:
    request = QgsFeatureRequest().setFilterExpression(f'"id" = {int(feature_id)}')
    feature = next(layer.getFeatures(request), None)
    if feature is None:
        raise RuntimeError(f"feature id={feature_id} not found in {layer.name()}")
    return feature


def plain(value: Any) -> Any:
    """QGIS's NULL (a QVariant) as None, for JSON."""
    return None if value is None or str(value) == "NULL" else value


def run(args: dict[str, Any]) -> dict[str, Any]:
    server = args["server"].rstrip("/")
    out = Path(args["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    edit = args["edit"]
    table = edit["table"]
    lon, lat = args["center"]
    result: dict[str, Any] = {"qgis_version": Qgis.QGIS_VERSION, "timings_s": {}, "screenshots": {}}
    timings, shots = result["timings_s"], result["screenshots"]
    area = view_around(lon, lat, AREA_VIEW_M)

    # (b) OGC API Features. Public layers anonymously, as any QGIS user can; the internal buildings layer is
    # refused without a session, then loaded with the bearer token.
    started = time.perf_counter()
    mark = len(LOG.messages)
    lights = oapif_layer(server, "street_lights", "Éclairage public (OGC API)")
    roads = oapif_layer(server, "road_edges", "Voies (OGC API)")
    anonymous = oapif_layer(server, "buildings", "Bâtiments (anonyme)")
    oapif: dict[str, Any] = {
        name: {"valid": layer.isValid(), "features": count_features(layer) if layer.isValid() else 0}
        for name, layer in (("street_lights", lights), ("road_edges", roads))
    }
    # (QgsVectorLayer.error() of this invalid OAPIF layer crashes QGIS 3.22: its message log says why instead.)
    QgsApplication.processEvents()  # the log's signal is queued
    oapif["buildings_anonymous"] = {"valid": anonymous.isValid(), "log": LOG.since(mark)}
    install_bearer_token(server, args["token"])
    buildings = oapif_layer(server, "buildings", "Bâtiments (OGC API)")
    oapif["buildings"] = {
        "valid": buildings.isValid(),
        "features": count_features(buildings) if buildings.isValid() else 0,
    }
    timings["oapif_load"] = round(time.perf_counter() - started, 3)
    result["oapif"] = oapif
    emit("oapif", **oapif)
    shown = [layer for layer in (lights, roads, buildings) if layer.isValid()]
    for layer in shown:
        style_vector_layer(layer)
    if shown:
        shots["oapif"] = render(
            shown, area, out / "oapif.png", "OGC API Features : street_lights, road_edges, buildings"
        )

    # (c) Vector tiles, with the session too (buildings are internal).
    started = time.perf_counter()
    tiles = tile_layer(server, ["buildings", "road_edges", table], "Tuiles vectorielles")
    timings["vector_tiles_load"] = round(time.perf_counter() - started, 3)
    result["vector_tiles"] = {"valid": tiles.isValid(), "source": tiles.source()}
    emit("vector_tiles", **result["vector_tiles"])
    if tiles.isValid():
        style_vector_tiles(tiles)
        shots["vector_tiles"] = render(
            [tiles], area, out / "vector_tiles.png", "Tuiles vectorielles (XYZ, MVT)"
        )

    # (d) PostGIS with the editor's own login, kept in QGIS's authentication database.
    started = time.perf_counter()
    pg = args["pg"]
    authcfg = store_basic_auth("Hyperviseur (PostGIS)", pg["user"], pg["password"])
    layer = postgis_layer(pg, authcfg, table, f"{table} (PostGIS)")
    context = [postgis_layer(pg, authcfg, name, f"{name} (PostGIS)") for name in ("road_edges", "buildings")]
    timings["postgis_load"] = round(time.perf_counter() - started, 3)
    result["postgis"] = {"valid": layer.isValid(), "features": layer.featureCount() if layer.isValid() else 0}
    if not layer.isValid():
        result["postgis"]["error"] = layer.error().summary()
        emit("postgis", **result["postgis"])
        return result
    emit("postgis", **result["postgis"])
    for other in context:
        style_vector_layer(other)
    highlight_feature(layer, edit)
    feature = find_feature(layer, edit["id"])
    old_point = feature.geometry().asPoint()
    edit_view = view_around(old_point.x(), old_point.y(), EDIT_VIEW_M)
    where = f"{table} id={edit['id']}"
    shots["postgis_before"] = render(
        [layer, *context], edit_view, out / "postgis_before.png", f"PostGIS, avant : {where}"
    )
    edited_tiles = tile_layer(server, ["buildings", "road_edges", table], "Tuiles vectorielles")
    style_vector_tiles(edited_tiles, edit)
    shots["tiles_before"] = render(
        [edited_tiles], edit_view, out / "tiles_before.png", f"Tuiles vectorielles, avant : {where}"
    )

    started = time.perf_counter()
    if not layer.startEditing():
        raise RuntimeError("startEditing refused")
    changed = layer.changeAttributeValue(
        feature.id(), layer.fields().indexFromName(edit["field"]), edit["value"]
    )
    moved = True
    if edit.get("move_to"):
        moved = layer.changeGeometry(feature.id(), QgsGeometry.fromPointXY(QgsPointXY(*edit["move_to"])))
    committed = layer.commitChanges()
    committed_at = time.time()
    timings["edit_commit"] = round(time.perf_counter() - started, 3)
    commit = {
        "ok": bool(changed and moved and committed),
        "messages": list(layer.commitErrors()),
        "at": committed_at,
        "feature_id": int(feature["id"]),
        "qgis_fid": int(feature.id()),
        "field": edit["field"],
        "old_value": plain(feature[edit["field"]]),
        "new_value": edit["value"],
        "old_point": [old_point.x(), old_point.y()],
    }
    result["commit"] = commit
    emit("committed", **commit)
    if not commit["ok"]:
        return result

    layer.reload()
    after = find_feature(layer, edit["id"])
    new_point = after.geometry().asPoint()
    commit["reread_value"] = plain(after[edit["field"]])
    commit["new_point"] = [new_point.x(), new_point.y()]
    ghost = ghost_layer(old_point.x(), old_point.y())
    shots["postgis_after"] = render(
        [layer, ghost, *context],
        edit_view,
        out / "postgis_after.png",
        f"PostGIS, après enregistrement : {where}",
    )
    # The server promises edits in the tiles within a second: look at them through QGIS once it has passed.
    time.sleep(max(0.0, committed_at + float(args.get("tiles_after_s", 1.0)) - time.time()))
    shots["tiles_after"] = render(
        [edited_tiles, ghost],
        edit_view,
        out / "tiles_after.png",
        f"Tuiles vectorielles, 1 s après : {where}",
    )
    return result


def main() -> int:
    args = json.loads(sys.stdin.read())
    started = time.perf_counter()
    app = start_qgis(args["profile_dir"])
    code = 0
    try:
        result = run(args)
        result["timings_s"]["total"] = round(time.perf_counter() - started, 3)
        QgsApplication.processEvents()  # deliver the last queued `finished` signals
        result["http"] = REQUESTS.summary()
        result["qgis_log"] = LOG.messages[-100:]
        emit("done", **result)
    except Exception as exc:  # report it on the channel the caller reads, then fail
        emit("error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        code = 1
    sys.stdout.flush()
    app.exitQgis()
    return code


if __name__ == "__main__":
    sys.exit(main())
