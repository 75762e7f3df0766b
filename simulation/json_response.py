"""JSON responses for the large documents of the simulation routes (reports, result layers).

FastAPI's default path (``jsonable_encoder`` then ``json.dumps``) walks a report of 1,500 affected buildings in
≈30 ms; orjson writes it in under 1 ms. The route keeps its declared ``response_model`` for the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import Response


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(content, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)
