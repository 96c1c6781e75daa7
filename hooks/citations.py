"""Validate what a card cites before it is cited: fhir.resources (R4B) where it adds safety.

Facts read raw JSON through `hooks.fhirviews`, which tolerates anything. A finding, though,
names the resources it rests on, and a clinician may open them: each of those is validated
against FHIR R4B (projected to the elements the service reads) before the finding may stand.
A finding that rests on a resource that fails becomes "no conclusion" with a caveat naming it,
and the resource is counted as unreadable (`ResourceSet.unreadable`). Validating only what is
cited, rather than every selected resource, is most of what makes a call cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

from hooks.fhirdata import ResourceSet, Unreadable
from hooks.findings import Finding, FindingStatus, ResourceRef

Projections = Mapping[str, Iterable[str]]
"""Resource type -> the elements a service reads (plus those R4 requires); others are ignored."""


class Citations:
    """One call's verdicts: whether each cited resource is valid FHIR R4B, validated once."""

    def __init__(self, data: ResourceSet, projections: Projections) -> None:
        self._data = data
        self._projections = {kind: tuple(fields) for kind, fields in projections.items()}
        self._verdicts: dict[ResourceRef, bool] = {}

    def valid(self, ref: ResourceRef) -> bool:
        """Whether the resource exists in the call's data and validates; counted if not."""
        verdict = self._verdicts.get(ref)
        if verdict is None:
            verdict = self._validate(ref)
            self._verdicts[ref] = verdict
        return verdict

    def _validate(self, ref: ResourceRef) -> bool:
        raw = self._data.find(ref.resource_type, ref.id)
        if raw is None:
            return False
        try:
            model = get_fhir_model_class(ref.resource_type)
        except (ValueError, KeyError):
            model = None
        if model is None or not issubclass(model, Resource):
            self._data.skip(raw, ref.resource_type, Unreadable.INVALID)
            return False
        return self._data.parse(model, raw, self._projections.get(ref.resource_type)) is not None

    def check(
        self, findings: Iterable[Finding], caveat: Callable[[ResourceRef], str]
    ) -> list[Finding]:
        """Findings as they may be shown: one resting on an invalid resource concludes nothing.

        `caveat` says, for the first invalid resource, why the finding could not conclude.
        """
        checked = []
        for finding in findings:
            if finding.status is FindingStatus.NO_CONCLUSION:
                checked.append(finding)  # it concludes nothing already
                continue
            bad = next((ref for ref in cited(finding) if not self.valid(ref)), None)
            if bad is None:
                checked.append(finding)
                continue
            checked.append(
                replace(
                    finding,
                    status=FindingStatus.NO_CONCLUSION,
                    caveats=(caveat(bad), *finding.caveats),
                    orders=(),
                )
            )
        return checked


def cited(finding: Finding) -> list[ResourceRef]:
    """The resources a finding names: its evidence lines and the Observation it is about."""
    refs = [line.ref for line in finding.evidence if line.ref is not None]
    if finding.subject is not None:
        refs.append(ResourceRef("Observation", finding.subject[1]))
    return list(dict.fromkeys(refs))
