"""The layer catalog: what each layer is, who may see it, and the one way its names reach SQL."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from psycopg import AsyncConnection, sql

from twin.errors import NotFound
from twin.security.deps import role_of
from twin.security.permissions import may_see_layer

# Every layer table has these columns; a table without them cannot be served as a collection.
_REQUIRED_COLUMNS = frozenset({"id", "territory_id", "geom"})
GIS_FEATURES_TABLE = "gis_features"


@dataclass(frozen=True)
class Field:
    """One property of a layer, as the catalog describes it."""

    name: str
    type: str
    title_fr: str
    title_en: str


@dataclass(frozen=True)
class Layer:
    """One catalog entry: a collection of the OGC API and a layer of the console.

    ``fields`` only holds properties that really exist (a column of ``table_name``, or for
    ``twin.gis_features`` layers a key of the ``attributes`` document), in catalog order.
    """

    name: str
    table_name: str
    layer_filter: str | None
    title_fr: str
    title_en: str
    description_fr: str
    geometry_type: str
    fields: tuple[Field, ...]
    visibility: str
    sort_order: int

    @property
    def in_attributes(self) -> bool:
        """True when the properties live in the jsonb ``attributes`` column (GIS-file layers)."""
        return self.table_name == GIS_FEATURES_TABLE

    def title(self, lang: str = "fr") -> str:
        return self.title_en if lang == "en" else self.title_fr

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def visible_to(layer: Layer, role: str) -> bool:
    """Whether ``role`` may see ``layer`` at all (listing, metadata, features, counts).

    The single access rule of the layers package: a layer that is not visible is listed nowhere and
    answers 404, exactly as if it did not exist, so its existence is not disclosed. Unknown roles see
    nothing (fail closed).

    Parameters
    ----------
    layer : Layer
        The catalog entry.
    role : str
        The caller's role (``twin.security.roles.Role``); the rule itself is
        ``twin.security.permissions.LAYER_VISIBILITY``.

    Examples
    --------
    >>> pipes = Layer("water_pipes", "water_pipes", None, "Eau", "Water", "", "LineString", (),
    ...               "restricted", 51)
    >>> visible_to(pipes, "anonymous")
    False
    """
    return may_see_layer(role, layer.visibility)


def role_of_request(request: Any) -> str:
    """The role a request acts under (resolved by the app-wide principal dependency)."""
    return role_of(request)


@cache
def _catalog_sql() -> str:
    return resources.files("layers").joinpath("sql/catalog.sql").read_text(encoding="utf-8")


def _layer_from_row(row: dict[str, Any]) -> Layer | None:
    columns = set(row["columns"])
    if not columns >= _REQUIRED_COLUMNS:
        return None
    in_attributes = row["table_name"] == GIS_FEATURES_TABLE
    if in_attributes and not row["layer_filter"]:
        return None  # a gis_features layer without its filter would serve every GIS layer at once
    fields = []
    for item in row["fields"] or []:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or (not in_attributes and name not in columns):
            continue
        fields.append(
            Field(
                name=name,
                type=str(item.get("type") or "string"),
                title_fr=str(item.get("title_fr") or name),
                title_en=str(item.get("title_en") or item.get("title_fr") or name),
            )
        )
    return Layer(
        name=row["name"],
        table_name=row["table_name"],
        layer_filter=row["layer_filter"] if in_attributes else None,
        title_fr=row["title_fr"],
        title_en=row["title_en"],
        description_fr=row["description_fr"] or "",
        geometry_type=row["geometry_type"],
        fields=tuple(fields),
        visibility=row["visibility"],
        sort_order=row["sort_order"],
    )


async def load_catalog(conn: AsyncConnection[dict[str, Any]]) -> list[Layer]:
    """Read ``twin.layer_catalog``, keeping only layers whose table can really be served.

    Parameters
    ----------
    conn : AsyncConnection
        A connection with dict rows (``twin.deps.Connection``).

    Returns
    -------
    list of Layer
        In catalog order (``sort_order``, then name), restricted layers included: filter with
        :func:`visible_layers` before showing anything.
    """
    cur = await conn.execute(_catalog_sql())
    layers = (_layer_from_row(row) for row in await cur.fetchall())
    return [layer for layer in layers if layer is not None]


def visible_layers(layers: list[Layer], role: str) -> list[Layer]:
    """The layers ``role`` may see, in catalog order."""
    return [layer for layer in layers if visible_to(layer, role)]


def find_layer(layers: list[Layer], collection_id: str, role: str) -> Layer:
    """Return the layer named ``collection_id`` if ``role`` may see it.

    Raises
    ------
    twin.errors.NotFound
        When there is no such layer or it is not visible to ``role`` (same message: a hidden layer's
        existence is not disclosed); the message lists the collections that do exist.
    """
    visible = visible_layers(layers, role)
    for layer in visible:
        if layer.name == collection_id:
            return layer
    names = ", ".join(layer.name for layer in visible) or "none"
    raise NotFound(f"collection {collection_id!r} does not exist; available: {names}")


def quoted(layer: Layer, column: str | None = None) -> sql.Composable:
    """The SQL identifier of a layer's table (``twin.<table>``) or of one of its fields.

    The only place where catalog names become SQL identifiers: the layer comes from
    :func:`load_catalog`, which only keeps existing tables, and ``column`` must be ``id``, ``geom``,
    ``territory_id`` or one of the layer's checked fields.

    Raises
    ------
    ValueError
        When ``column`` is not a known column of the layer: a programming error, never user input.
    """
    if column is None:
        return sql.Identifier("twin", layer.table_name)
    if column not in _REQUIRED_COLUMNS and (layer.in_attributes or column not in layer.field_names()):
        raise ValueError(f"{column!r} is not a checked column of layer {layer.name!r}")
    return sql.Identifier(column)
