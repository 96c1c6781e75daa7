"""Response headers for every response: CORS for browser clients, and security headers."""

from __future__ import annotations

from flask import Flask, Response, request

ALLOWED_HEADERS = "Authorization, Content-Type"
ALLOWED_METHODS = "GET, POST, OPTIONS"


def init_headers(app: Flask, cors_origins: list[str]) -> None:
    """Install the after-request hook that sets CORS and security headers."""
    any_origin = "*" in cors_origins
    allowed = frozenset(cors_origins)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        origin = request.headers.get("Origin")
        if origin and (any_origin or origin in allowed):
            # No Allow-Credentials: auth is a bearer header, and `*` forbids credentials.
            response.headers["Access-Control-Allow-Origin"] = "*" if any_origin else origin
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
            response.headers["Access-Control-Max-Age"] = "600"
            if not any_origin:
                response.vary.add("Origin")
        return response
