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
    """Iterative walk (no recursion limit to hit) that stops at the first too-deep node."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend(
                (child, depth + 1) for child in node.values() if isinstance(child, dict | list)
            )
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    return False


def schema_errors(errors: list[Any], prefix: str = "") -> list[str]:
    """Pydantic errors as 'field.path: message' lines; input values are never echoed."""
    lines = []
    for err in errors:
        path = ".".join(str(part) for part in err.get("loc", ()))
        where = f"{prefix}{path}" if path else (prefix.rstrip(".") or "body")
        lines.append(f"{where}: {err.get('msg', 'invalid')}")
    return lines
