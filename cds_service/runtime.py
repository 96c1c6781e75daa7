"""What one app instance holds (settings, pipeline, authenticator) and how it writes JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from flask import Response
from pydantic import BaseModel

from cards.model import to_wire
from cds_service.auth import Authenticator
from cds_service.dispatch import Pipeline
from cds_service.settings import Settings


@dataclass(frozen=True)
class Runtime:
    """Stored in `app.extensions["cds"]`; read by views through `runtime()`."""

    settings: Settings
    pipeline: Pipeline
    authenticator: Authenticator


def json_response(
    body: BaseModel | dict[str, Any],
    status: int = 200,
    *,
    patient_data: bool = False,
    media_type: str = "application/json",
) -> Response:
    """Serialize with spec aliases and no empty fields; mark patient data uncacheable."""
    data = to_wire(body) if isinstance(body, BaseModel) else body
    response = Response(orjson.dumps(data), status=status, mimetype=media_type)
    if patient_data:
        response.headers["Cache-Control"] = "no-store"
    return response
