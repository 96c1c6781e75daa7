"""The OpenAPI 3.1 description of the HTTP API, generated from the wire models we validate with.

One source of truth: request schemas are the pydantic models' validation schemas (what the
service accepts), response schemas their serialization schemas without `null` (the service
omits empty fields rather than sending null). `docs/openapi.json` is this document for the
default configuration, kept in sync by a test; `/openapi.json` serves it for the running one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from cards.model import CdsResponse
from cds_service.errors import OperationOutcomeBody
from cds_service.protocol import Discovery, FeedbackReceipt, FeedbackRequest, HookRequest
from hooks.registry import ServiceSpec
from hooks.services import SERVICES
from hooks.types import JsonObject

REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "cdsHooksJwt"
FHIR_JSON = "application/fhir+json"

# Status -> meaning, for every status an endpoint documents (README § HTTP API says the same).
STATUS_TEXT = {
    200: "Success.",
    400: "Malformed JSON, a schema error (each bad field named) or a hook that is not the "
    "service's.",
    401: "Missing or rejected JWT. The body is empty; WWW-Authenticate: Bearer.",
    404: "Unknown service.",
    412: "Required prefetch data was neither sent nor obtainable from fhirServer; the "
    "diagnostics name each key and its cause (e.g. fhir-server-not-allowlisted, http-401).",
    413: "Body, JSON nesting or resource count over a limit.",
    415: "The body is not JSON.",
    500: "Unexpected error; the body carries the request id.",
    503: "A dependency (the database, or the JWT replay cache) does not answer in time, or "
    "the database schema is not current; nothing was stored. Retry-After says when to retry.",
}


class PrefetchResource(BaseModel):
    """A prefetch value: the FHIR resource (often a Bundle) the template asks for, or null."""

    model_config = ConfigDict(extra="allow")

    resource_type: str = Field(alias="resourceType")


def build_openapi(
    services: Sequence[ServiceSpec] = SERVICES,
    *,
    auth: bool = True,
    base_url: str | None = None,
) -> JsonObject:
    """The OpenAPI 3.1 document; `auth=False` describes a server running with CDS_AUTH=off."""
    requests: list[type[BaseModel]] = [FeedbackRequest]
    paths: JsonObject = {"/cds-services": {"get": _discovery_operation()}}
    for spec in services:
        model = _request_model(spec)
        requests.append(model)
        paths[f"/cds-services/{spec.id}"] = {"post": _invoke_operation(spec, model)}
        paths[f"/cds-services/{spec.id}/feedback"] = {"post": _feedback_operation(spec)}
    if auth:
        for item in paths.values():
            for operation in item.values():
                operation["security"] = [{SECURITY_SCHEME: []}]
    paths.update(_operational_paths())
    document: JsonObject = {
        "openapi": "3.1.0",
        "info": {
            "title": "Knee-spasm CDS Hooks service",
            "version": _software_version(),
            "summary": "CDS Hooks 2.0 service: knee muscle spasm, cramp and twitch review.",
            "description": _DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(requests, [Discovery, CdsResponse, FeedbackReceipt]),
            "headers": {
                "X-Request-ID": {
                    "description": "Correlates this response with the service's log line.",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1},
                }
            },
        },
    }
    if base_url:
        document["servers"] = [{"url": base_url}]
    if auth:
        document["components"]["securitySchemes"] = {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "CDS Hooks 2.0 §Trusting CDS Clients: a JWT signed by a trusted "
                "EHR (asymmetric algorithm), with aud equal to the endpoint URL, exp, iat and a "
                "single-use jti.",
            }
        }
    return document


_DESCRIPTION = (
    "A CDS Hooks 2.0 service. Bodies are JSON; optional fields are omitted rather than sent "
    "as null, empty strings, arrays or objects (only `cards` may be an empty array). Errors "
    "are FHIR OperationOutcome resources (application/fhir+json) that never echo submitted "
    "values. A POST to a service this server does not host answers 404; a method an endpoint "
    "does not accept answers 405 with an Allow header. Clinical use: see INTENDED_USE.md."
)


def _software_version() -> str:
    try:
        return version("knee-spasm-cds")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _request_model(spec: ServiceSpec) -> type[BaseModel]:
    """HookRequest narrowed to this service: its hook, its context and its prefetch keys."""
    prefetch_fields: dict[str, Any] = {
        key: (PrefetchResource | None, Field(default=None, description=_prefetch_text(p)))
        for key, p in spec.prefetch.items()
    }
    prefetch = create_model(
        f"{_camel(spec.id)}Prefetch",
        __config__=ConfigDict(extra="allow"),
        __doc__=f"Prefetch for {spec.id}: each key as discovery's template asks, or null "
        "when the data does not exist. A missing key is fetched from fhirServer.",
        **prefetch_fields,
    )
    hook: Any = Literal[spec.hook]  # a Literal built at run time, from the declaration
    model: type[BaseModel] = create_model(
        f"{_camel(spec.id)}Request",
        __base__=HookRequest,
        __doc__=f"Body of POST /cds-services/{spec.id}.",
        hook=(hook, ...),
        context=(spec.definition.context_model, ...),
        prefetch=(prefetch | None, None),
    )
    return model


def _prefetch_text(prefetch: Any) -> str:
    required = getattr(prefetch, "required", True)
    return "Required: a 412 if neither sent nor fetchable." if required else "Optional."


def _camel(service_id: str) -> str:
    return "".join(part.capitalize() for part in service_id.replace("_", "-").split("-"))


def _discovery_operation() -> JsonObject:
    return {
        "operationId": "discovery",
        "summary": "List the hosted services (CDS Hooks 2.0 §Discovery).",
        "responses": _responses(Discovery, (401, 500, 503)),
    }


def _invoke_operation(spec: ServiceSpec, model: type[BaseModel]) -> JsonObject:
    return {
        "operationId": f"invoke-{spec.id}",
        "summary": spec.title,
        "description": spec.description,
        "requestBody": _body(model),
        "responses": _responses(CdsResponse, (400, 401, 412, 413, 415, 500, 503)),
    }


def _feedback_operation(spec: ServiceSpec) -> JsonObject:
    return {
        "operationId": f"feedback-{spec.id}",
        "summary": f"Card outcomes for {spec.id} (CDS Hooks 2.0 §Feedback), stored before the "
        "answer.",
        "requestBody": _body(FeedbackRequest),
        "responses": _responses(FeedbackReceipt, (400, 401, 413, 415, 500, 503)),
    }


def _operational_paths() -> JsonObject:
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    ready = {
        "type": "object",
        "properties": {"status": {"const": "ready"}, "databaseLatencyMs": {"type": "number"}},
        "required": ["status"],
    }
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness: the process answers.",
                "responses": {"200": _content("Alive.", status, "application/json")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: the database answers.",
                "responses": {
                    "200": _content("Ready.", ready, "application/json"),
                    **_errors((500, 503)),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {
                    "200": _content("The OpenAPI 3.1 document.", {"type": "object"}, None)
                },
            }
        },
    }


def _body(model: type[BaseModel]) -> JsonObject:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {
        "required": True,
        "content": {"application/json": {"schema": schema}, FHIR_JSON: {"schema": schema}},
    }


def _responses(model: type[BaseModel], errors: Iterable[int]) -> JsonObject:
    ok = _content(STATUS_TEXT[200], {"$ref": REF.format(model=model.__name__)}, None)
    return {"200": ok, **_errors(errors)}


def _errors(statuses: Iterable[int]) -> JsonObject:
    outcome = {"$ref": REF.format(model=OperationOutcomeBody.__name__)}
    responses: JsonObject = {}
    for status in statuses:
        if status == 401:
            responses["401"] = {
                "description": STATUS_TEXT[401],
                "headers": {
                    "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
                    "WWW-Authenticate": {"schema": {"const": "Bearer"}, "required": True},
                },
            }
        else:
            responses[str(status)] = _content(STATUS_TEXT[status], outcome, FHIR_JSON)
    return responses


def _content(description: str, schema: JsonObject, media_type: str | None) -> JsonObject:
    return {
        "description": description,
        "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
        "content": {media_type or "application/json": {"schema": schema}},
    }


def _schemas(
    requests: Sequence[type[BaseModel]], responses: Sequence[type[BaseModel]]
) -> JsonObject:
    """Component schemas: requests as validated, responses (and errors) as serialized."""
    _, accepted = models_json_schema(
        [(model, "validation") for model in requests], ref_template=REF, by_alias=True
    )
    sent_models: list[type[BaseModel]] = [*responses, OperationOutcomeBody]
    _, sent = models_json_schema(
        [(model, "serialization") for model in sent_models],
        ref_template=REF,
        by_alias=True,
    )
    schemas: JsonObject = {}
    for name, schema in accepted.get("$defs", {}).items():
        schemas[name] = _tidy(schema)
    renames: dict[str, str] = {}
    response_defs = {name: _without_null(_tidy(s)) for name, s in sent.get("$defs", {}).items()}
    for name, schema in response_defs.items():
        if name in schemas and schemas[name] != schema:
            renames[name] = f"{name}Sent"
    for name, schema in response_defs.items():
        schemas[renames.get(name, name)] = _rename_refs(schema, renames)
    return dict(sorted(schemas.items()))


def _tidy(schema: Any) -> Any:
    """Drop pydantic's generated property titles ("Hookinstance"): the names say it."""
    if isinstance(schema, dict):
        return {
            key: (
                {name: _tidy(_untitled(prop)) for name, prop in value.items()}
                if key == "properties"
                else _tidy(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    return schema


def _untitled(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {key: value for key, value in schema.items() if key != "title"}
    return schema


def _without_null(schema: Any) -> Any:
    """Responses never carry null: drop `{"type": "null"}` branches and null defaults."""
    if isinstance(schema, list):
        return [_without_null(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {
        key: _without_null(value)
        for key, value in schema.items()
        if not (key == "default" and value is None)
    }
    branches = result.get("anyOf")
    if isinstance(branches, list):
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            del result["anyOf"]
            result = {**kept[0], **result}
        else:
            result["anyOf"] = kept
    return result


def _rename_refs(schema: Any, renames: dict[str, str]) -> Any:
    if not renames:
        return schema
    if isinstance(schema, list):
        return [_rename_refs(item, renames) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _rename_refs(value, renames) for key, value in schema.items()}
    ref = result.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in renames:
            result["$ref"] = REF.format(model=renames[name])
    return copy.deepcopy(result)
