"""The knee-spasm-review service declaration: hook, prefetch and handler, nothing else.

Prefetch keys (CDS Hooks 2.0 §Prefetch, spec-legal subset only: instance read, type search,
patient reference, token equality with comma-OR, _sort, _count; dates are filtered in code
because templates cannot do date arithmetic). Which keys are required, and why:

- patient (required): age decides whether adult defaults apply, and a deceased patient gets
  no cards; without it nothing may be concluded.
- conditions (required): the complaint gate and every red flag read it; running without it
  would silently drop neurology findings.
- medRequests (required): drug rules and the attribution of low labs to drugs read it.
- labs (required): A1, A2, A7 and C7 say "no result in N months"; absent data would make that
  statement false, so it must fail loudly (412) instead.
- medStatements (optional): many servers do not support MedicationStatement.
- symptoms, encounters (optional): extra complaint sources; without them the service is only
  less sensitive, never wrong.
- serviceRequests (optional): orders already made for the tests the cards may suggest, so a
  card does not suggest them again; without it an order may be suggested twice, never missed.

No status filter on medication queries (stopped orders matter for windows) and no category
filter on Condition (Synthea omits categories).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hooks.citations import Citations
from hooks.findings import Assessment
from hooks.knowledge import KnowledgeBase
from hooks.patient_view.facts import PROJECTIONS, confirm_complaint, read_facts
from hooks.patient_view.rules import IMPLEMENTATIONS, complaint_prompt, run_rules
from hooks.registry import HookCall, Prefetch, ReferenceFollow, cds_service

SERVICE_ID = "knee-spasm-review"
PATIENT = "{{context.patientId}}"
# Pages are bounded; the newest results come first because rules read the latest values.
LAB_COUNT = 500
RECORD_COUNT = 500
SYMPTOM_COUNT = 50
ENCOUNTER_COUNT = 20
ORDER_COUNT = 100


def _tokens(system: str, codes: Sequence[str]) -> str:
    return ",".join(f"{system}|{code}" for code in codes)


def labs_query(kb: KnowledgeBase) -> str:
    """Observations for exactly the LOINC codes the enabled rules read (erratum 5)."""
    codes = _tokens(kb.systems.loinc, kb.prefetch_loinc(SERVICE_ID))
    return f"Observation?patient={PATIENT}&code={codes}&_sort=-date&_count={LAB_COUNT}"


def symptoms_query(kb: KnowledgeBase) -> str:
    """Symptom Observations coded with a verified complaint or knee code."""
    codes = _tokens(kb.systems.snomed, kb.complaint_snomed())
    return f"Observation?patient={PATIENT}&code={codes}&_sort=-date&_count={SYMPTOM_COUNT}"


def orders_query(kb: KnowledgeBase) -> str:
    """ServiceRequests for exactly the tests and referrals the cards may suggest."""
    tests = dict.fromkeys(
        f"{test.system}|{test.code}" for order in kb.cards.orders.values() for test in order.tests
    )
    codes = ",".join(tests)
    return f"ServiceRequest?patient={PATIENT}&code={codes}&_sort=-authored&_count={ORDER_COUNT}"


@cds_service(
    id=SERVICE_ID,
    hook="patient-view",
    title="Knee muscle spasm, cramp and twitch review",
    description=(
        "For a patient with a knee muscle spasm, cramp or twitching complaint, reviews "
        "medications that cause cramps, electrolyte and nutrient labs, and neurological "
        "red flags, and suggests cited next steps."
    ),
    prefetch={
        "patient": Prefetch(f"Patient/{PATIENT}"),
        "conditions": Prefetch(f"Condition?patient={PATIENT}&_count={RECORD_COUNT}"),
        "medRequests": Prefetch(
            f"MedicationRequest?patient={PATIENT}&_sort=-authoredon&_count={RECORD_COUNT}"
        ),
        "medStatements": Prefetch(
            f"MedicationStatement?patient={PATIENT}&_count={RECORD_COUNT}", required=False
        ),
        "labs": Prefetch(labs_query),
        "symptoms": Prefetch(symptoms_query, required=False),
        "encounters": Prefetch(
            f"Encounter?patient={PATIENT}&_sort=-date&_count={ENCOUNTER_COUNT}", required=False
        ),
        "serviceRequests": Prefetch(orders_query, required=False),
    },
    follow=(
        ReferenceFollow("MedicationRequest", "medicationReference", "Medication"),
        ReferenceFollow("MedicationStatement", "medicationReference", "Medication"),
    ),
    rules=IMPLEMENTATIONS,
)
def knee_spasm_review(call: HookCall[Any]) -> Assessment:
    """Findings for a living patient with a spasm/cramp/twitch complaint; none otherwise."""
    kb = call.knowledge
    citations = Citations(call.data, PROJECTIONS)
    facts = read_facts(call.data, kb, call.as_of)
    if facts is not None:
        facts = confirm_complaint(facts, citations.valid)
    if facts is None:
        return Assessment()
    findings = run_rules(facts, kb, call.as_of, call.service_id, call.states())
    checked = citations.check(findings, lambda ref: kb.say("unreadable_record", ref=ref.reference))
    return Assessment(tuple(checked), complaint_prompt(facts))
