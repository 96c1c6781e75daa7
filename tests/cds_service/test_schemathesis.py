"""Schemathesis against the live server, from the document it serves: auth off and auth on.

The checks are Schemathesis's defaults: no 5xx, statuses, content types, headers and bodies as
documented, schema-valid requests accepted, schema-violating ones rejected, documented methods
only, and (with auth) no success without a valid token. Examples are bounded to keep the suite
fast; raise them locally with CDS_TEST_SCHEMATHESIS_EXAMPLES to search harder.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from cds_service.openapi import build_openapi
from tests.live import JwtServer, LiveServer

EXAMPLES = int(os.environ.get("CDS_TEST_SCHEMATHESIS_EXAMPLES", "25"))
# 413 is the documented answer to a body over a limit JSON Schema cannot state (nesting deeper
# than CDS_MAX_JSON_DEPTH, more resources than CDS_MAX_PREFETCH_RESOURCES), valid or not.
CHECKS = {
    "positive_data_acceptance": {"expected-statuses": [200, 413]},
    "negative_data_rejection": {"expected-statuses": [400, 401, 404, 405, 413, 415]},
}
# A schema-valid hook request may still lack data the rules need: CDS Hooks 2.0 answers 412.
INVOKE_MAY_412 = {
    "include-operation-id": "invoke-knee-spasm-review",
    "checks": {"positive_data_acceptance": {"expected-statuses": [200, 412, 413]}},
}


def config(**phases: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {"checks": CHECKS, "operations": [INVOKE_MAY_412], "phases": phases}
    )


# Coverage phase (boundary values of every field) runs without auth; with auth, fuzzing suffices
# to show every operation demands and honours a token.
OPEN = schemathesis.openapi.from_dict(build_openapi(auth=False), config=config())
SECURED = schemathesis.openapi.from_dict(
    build_openapi(auth=True), config=config(coverage={"enabled": False})
)
UNBOUNDED = settings(deadline=None, suppress_health_check=list(HealthCheck))


def test_the_fuzzed_document_is_the_one_the_servers_serve(
    live_server: LiveServer, live_jwt_server: JwtServer
) -> None:
    served_open = httpx.get(f"{live_server.base}/openapi.json").json()
    served_jwt = httpx.get(f"{live_jwt_server.server.base}/openapi.json").json()

    assert served_open == build_openapi(auth=False)
    assert served_jwt == build_openapi(auth=True, base_url=live_jwt_server.server.base)


@OPEN.parametrize()
@settings(UNBOUNDED, max_examples=EXAMPLES)
def test_api_without_auth(case: schemathesis.Case[Any], live_server: LiveServer) -> None:
    case.call_and_validate(base_url=live_server.base)


@SECURED.parametrize()
@settings(UNBOUNDED, max_examples=max(5, EXAMPLES // 2))
def test_api_with_jwt_auth(case: schemathesis.Case[Any], live_jwt_server: JwtServer) -> None:
    headers = live_jwt_server.bearer(case.formatted_path)
    case.call_and_validate(base_url=live_jwt_server.server.base, headers=headers)
