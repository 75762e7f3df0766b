"""Find attributes under their French or English field names and make source values JSON-ready."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd


def normalise(text: Any) -> str:
    """Lowercase without accents: 'Hôpital ' → 'hopital', for matching French field names and values."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return text.strip().lower()


def find_field(frame: pd.DataFrame, candidates: Iterable[str]) -> str | None:
    """The first column whose normalised name is one of ``candidates`` (in their order), else None."""
    by_key = {normalise(c): c for c in frame.columns if not c.startswith("_") and c != frame.geometry.name}
    for candidate in candidates:
        if candidate in by_key:
            return by_key[candidate]
    return None


def source_attributes(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """All source attributes per feature, JSON-ready: missing → null, dates → ISO 8601 text."""
    columns = [c for c in frame.columns if not c.startswith("_") and c != frame.geometry.name]
    data = {c: frame[c].to_numpy(dtype=object) for c in columns}
    return [{c: json_value(data[c][i]) for c in columns} for i in range(len(frame))]


def json_value(value: Any) -> Any:
    """One source value as JSON will hold it: missing → None, dates → ISO 8601, numpy → Python.

    Examples
    --------
    >>> json_value(float("nan")), json_value(pd.Timestamp("1965-10-18")), json_value(np.int32(7))
    (None, '1965-10-18', 7)
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):  # date, datetime, time, pandas Timestamp
        return value.isoformat().removesuffix("T00:00:00")
    if isinstance(value, bytes):
        return value.hex()
    return value


def text_values(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    """A column as stripped text, blanks and missing values as None; all None when there is no column."""
    if column is None:
        return np.full(len(frame), None, dtype=object)
    return np.array(
        [None if json_value(v) is None else str(v).strip() or None for v in frame[column]], dtype=object
    )


def number_values(frame: pd.DataFrame, column: str | None, *, minimum: float = 0.0) -> np.ndarray:
    """Numeric column with impossible values (negative, non-finite) as missing, so table checks hold."""
    if column is None:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(values) & (values >= minimum), values, np.nan)
