"""The knee-spasm-review service declaration: hook, prefetch and handler, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hooks.findings import Finding
from hooks.registry import HookCall, Prefetch, cds_service


@cds_service(
    id="knee-spasm-review",
    hook="patient-view",
    title="Knee muscle spasm, cramp and twitch review",
    description=(
        "For a patient with a knee muscle spasm, cramp or twitching complaint, reviews "
        "medications that cause cramps, electrolyte and nutrient labs, and neurological "
        "red flags, and suggests cited next steps."
    ),
    prefetch={
        "patient": Prefetch("Patient/{{context.patientId}}"),
        "conditions": Prefetch("Condition?patient={{context.patientId}}"),
    },
)
def knee_spasm_review(call: HookCall[Any]) -> Sequence[Finding]:
    """Returns no findings until the rules land (issue: knee-spasm review)."""
    return ()
