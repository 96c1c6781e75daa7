"""The floor: a bare Flask app, run under the same gunicorn config, that does only the unavoidable.

It reads and parses the same JSON body with the same parser and answers `{"cards": []}`, so
service/floor isolates what the service adds on top of gunicorn, Flask and JSON parsing.
"""

from __future__ import annotations

import orjson
from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/cds-services/<service_id>")
def invoke(service_id: str) -> Response:
    """Parse the body, return no cards."""
    orjson.loads(request.get_data(cache=False))
    return Response(b'{"cards":[]}', mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    """Readiness probe for the harness."""
    return Response(b'{"status":"ok"}', mimetype="application/json")
