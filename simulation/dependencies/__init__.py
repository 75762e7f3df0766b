"""Typed dependency links between a territory's assets: derived from geometry at import, stored, editable.

A building needs its road access and its water service connection, a critical site its road access, a street
light the road it lights and the feeder it hangs from, a water pump its feeder, a sensor the asset it
measures. Modules: :mod:`~simulation.dependencies.model` (the links in memory, edits laid over them),
:mod:`~simulation.dependencies.derive` (one PostGIS KNN statement per link type),
:mod:`~simulation.dependencies.store` (``simulation.dependency_links``: saved at derivation, loaded with the
edits), :mod:`~simulation.dependencies.feeders` (power feeders), :mod:`~simulation.dependencies.links` (one
asset's stored links, editing them), :mod:`~simulation.dependencies.chain` (a building's providers down to the
water sources). Every public name is importable from ``simulation.dependencies``.
"""

from __future__ import annotations

from simulation.dependencies.chain import link_step, providers_chain, water_chain
from simulation.dependencies.derive import dependency_model_from_twin, drivable_edge_ids
from simulation.dependencies.feeders import CABINET_KEYS, FEEDER_KINDS, cabinet_key, derive_feeders
from simulation.dependencies.model import (
    ASSET_TABLES,
    DEFAULT_MAX_ACCESS_M,
    DEFAULT_MAX_FEED_M,
    DEFAULT_MAX_LIGHT_M,
    DEFAULT_MAX_PUMP_FEED_M,
    DEFAULT_MAX_SENSOR_M,
    DEFAULT_MAX_SERVICE_M,
    DEPENDENT_LAYERS,
    FEEDER_LAYER,
    KNN_CANDIDATES,
    LINK_KINDS,
    LINK_TITLES,
    PROVIDER_LAYERS,
    SENSOR_CATEGORY_LAYER,
    SENSOR_KIND_LAYER,
    Assets,
    DependencyModel,
    Edit,
    LinkKind,
    LinkSet,
    apply_edits,
    check_link_layers,
)
from simulation.dependencies.store import (
    STATED_BY,
    derive_and_save,
    load_dependency_model,
    save_derived,
)

__all__ = [
    "ASSET_TABLES",
    "CABINET_KEYS",
    "DEFAULT_MAX_ACCESS_M",
    "DEFAULT_MAX_FEED_M",
    "DEFAULT_MAX_LIGHT_M",
    "DEFAULT_MAX_PUMP_FEED_M",
    "DEFAULT_MAX_SENSOR_M",
    "DEFAULT_MAX_SERVICE_M",
    "DEPENDENT_LAYERS",
    "FEEDER_KINDS",
    "FEEDER_LAYER",
    "KNN_CANDIDATES",
    "LINK_KINDS",
    "LINK_TITLES",
    "PROVIDER_LAYERS",
    "SENSOR_CATEGORY_LAYER",
    "SENSOR_KIND_LAYER",
    "STATED_BY",
    "Assets",
    "DependencyModel",
    "Edit",
    "LinkKind",
    "LinkSet",
    "apply_edits",
    "cabinet_key",
    "check_link_layers",
    "dependency_model_from_twin",
    "derive_and_save",
    "derive_feeders",
    "drivable_edge_ids",
    "link_step",
    "load_dependency_model",
    "providers_chain",
    "save_derived",
    "water_chain",
]
