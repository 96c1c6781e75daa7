"""Request bodies: content type, size and JSON nesting limits, checked before any parsing work."""

from __future__ import annotations

from typing import Any

import orjson

from cds_service.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

JSON_TYPES = ("application/json", "application/fhir+json")


def check_content_type(content_type: str | None) -> None:
    """CDS Hooks bodies are JSON; anything else is a 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(
            "unsupported content type", details=["send the body as application/json"]
        )


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Decode JSON and reject documents nested deeper than `max_depth`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            "malformed JSON", details=[f"body is not valid JSON (at byte {exc.pos})"]
        ) from exc
    if _depth_exceeds(value, max_depth):
        raise PayloadTooLarge(
            "JSON nested too deeply", details=[f"body nests deeper than {max_depth} levels"]
        )
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Level-by-level walk (no recursion limit to hit) that stops at the first too-deep level.

    orjson yields only dict, list and scalars, so exact type checks suffice; this runs on every
    body, and on a 1,000-resource prefetch it was costlier than the parse itself.
    """
    level = [value] if type(value) in (dict, list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        following = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                kind = type(child)
                if kind is dict or kind is list:
                    following.append(child)
        level = following
        depth += 1
    return False


def schema_errors(errors: list[Any], prefix: str = "") -> list[str]:
    """Pydantic errors as 'field.path: message' lines; input values are never echoed."""
    lines = []
    for err in errors:
        path = ".".join(str(part) for part in err.get("loc", ()))
        where = f"{prefix}{path}" if path else (prefix.rstrip(".") or "body")
        lines.append(f"{where}: {err.get('msg', 'invalid')}")
    return lines
