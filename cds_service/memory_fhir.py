"""An in-memory FHIR server for the restricted prefetch query subset (CDS Hooks 2.0 §Prefetch).

It answers reads and the searches our templates use, with paging, from a bundle of resources.
Used to turn a Synthea bundle into a hook request (`cds-service evaluate BUNDLE`), by the test
suite's local FHIR server, and by the bench's fallback workload. Not a general FHIR server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cds_service import bundles
from hooks.fhirviews import time_of
from hooks.types import JsonObject

# Date elements to sort by, in order of preference, per resource type (a Period gives its start).
DATE_ELEMENTS = (
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "issued",
    "authoredOn",
    "recordedDate",
    "onsetDateTime",
    "dateAsserted",
    "period",
)
EARLIEST = datetime.min.replace(tzinfo=UTC)
TOKEN_ELEMENTS = {
    "code": ("code", "medicationCodeableConcept"),
    "value-concept": ("valueCodeableConcept",),
    "clinical-status": ("clinicalStatus",),
    "category": ("category",),
}


class MemoryFhir:
    """Resources indexed by type and id; urn:uuid references rewritten to `Type/id`."""

    def __init__(self, resources: Iterable[JsonObject]) -> None:
        items = list(resources)
        urns = {f"urn:uuid:{r['id']}": f"{r['resourceType']}/{r['id']}" for r in items if "id" in r}
        self.by_type: dict[str, list[JsonObject]] = {}
        for resource in items:
            fixed = _rewrite_refs(resource, urns)
            self.by_type.setdefault(fixed["resourceType"], []).append(fixed)

    @classmethod
    def from_bundle(cls, bundle: JsonObject) -> MemoryFhir:
        """From a transaction, collection or searchset bundle."""
        return cls(bundles.unpack(bundle).resources)

    def patient_ids(self) -> list[str]:
        """Ids of the Patient resources held."""
        return [p["id"] for p in self.by_type.get("Patient", [])]

    def get(
        self, query: str, base: str, page_size: int = 50, *, paged: bool = True
    ) -> JsonObject | None:
        """Answer `Type/id` or `Type?params` (relative to `base`); None means 404.

        `paged=False` returns every match in one Bundle, whatever `_count` asks: a prefetch
        value built offline has no server to fetch a next page from.
        """
        parts = urlsplit(query)
        path = parts.path.strip("/")
        if "/" in path:
            kind, _, rid = path.partition("/")
            return next((r for r in self.by_type.get(kind, []) if r.get("id") == rid), None)
        params = parse_qsl(parts.query, keep_blank_values=True)
        if not paged:
            params = [(name, value) for name, value in params if name != "_count"]
            page_size = 10**9
        return self._search(path, params, base, page_size)

    def _search(
        self, kind: str, params: list[tuple[str, str]], base: str, page_size: int
    ) -> JsonObject:
        matches = list(self.by_type.get(kind, []))
        count, offset, sort = page_size, 0, None
        for name, value in params:
            if name == "patient":
                matches = [r for r in matches if _refers_to_patient(r, value)]
            elif name in TOKEN_ELEMENTS:
                wanted = {_token(v) for v in value.split(",")}
                matches = [r for r in matches if _has_token(r, TOKEN_ELEMENTS[name], wanted)]
            elif name == "status":
                matches = [r for r in matches if r.get("status") in value.split(",")]
            elif name == "_count":
                count = max(1, min(int(value), 1000))
            elif name == "_offset":
                offset = max(0, int(value))
            elif name == "_sort":
                sort = value
        if sort in ("-date", "date"):
            matches.sort(key=_date_of, reverse=sort == "-date")
        page = matches[offset : offset + count]
        bundle: JsonObject = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in page],
        }
        if offset + count < len(matches):
            next_params = [(n, v) for n, v in params if n != "_offset"]
            next_params.append(("_offset", str(offset + count)))
            bundle["link"] = [
                {"relation": "next", "url": f"{base}/{kind}?{urlencode(next_params)}"}
            ]
        return bundle


def _rewrite_refs(value: Any, urns: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: urns.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite_refs(v, urns)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite_refs(v, urns) for v in value]
    return value


def _refers_to_patient(resource: JsonObject, patient: str) -> bool:
    patient_id = patient.removeprefix("Patient/")
    for element in ("subject", "patient"):
        ref = (resource.get(element) or {}).get("reference", "")
        if ref == f"Patient/{patient_id}":
            return True
    return False


def _token(text: str) -> tuple[str | None, str]:
    system, sep, code = text.rpartition("|")
    return (system or None, code) if sep else (None, text)


def _has_token(
    resource: JsonObject, elements: Iterable[str], wanted: set[tuple[str | None, str]]
) -> bool:
    for element in elements:
        value = resource.get(element)
        for concept in value if isinstance(value, list) else [value]:
            if not isinstance(concept, dict):
                continue
            for coding in concept.get("coding") or ():
                system, code = coding.get("system"), coding.get("code")
                if (system, code) in wanted or (None, code) in wanted:
                    return True
    return False


def _date_of(resource: JsonObject) -> datetime:
    """The instant a `_sort=date` orders by (undated resources sort as the earliest)."""
    return time_of(resource, DATE_ELEMENTS) or EARLIEST


def build_request(
    fhir: MemoryFhir,
    templates: Mapping[str, str],
    patient_id: str,
    hook: str = "patient-view",
    user_id: str = "Practitioner/example",
    hook_instance: str = "00000000-0000-4000-8000-000000000000",
) -> JsonObject:
    """A hook request whose prefetch is every template answered from `fhir` (unpaged)."""
    prefetch: JsonObject = {}
    for key, template in templates.items():
        query = template.replace("{{context.patientId}}", patient_id).replace(
            "{{context.userId}}", user_id
        )
        prefetch[key] = fhir.get(query, base="urn:memory", paged=False)
    return {
        "hook": hook,
        "hookInstance": hook_instance,
        "context": {"userId": user_id, "patientId": patient_id},
        "prefetch": prefetch,
    }
