"""The rule catalogue: every rule in words, its thresholds, orders and citations, and its card.

Built from the loaded knowledge (what the service runs, not a copy) and from one example
patient per rule (`examples.yaml`), run through the service as `cds-service evaluate` runs a
bundle. The page shows the card the example gives, rendered the way an EHR shows a card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from cards.model import Card
from cds_service.workbench.engine import Engine, EngineSpec, JsonObject, engine_for
from cds_service.workbench.models import KnowledgeRef
from hooks.knowledge import KnowledgeBase
from hooks.knowledge.schema import RuleDef, RuleState

EXAMPLES = Path(__file__).with_name("examples.yaml")
PATIENT_ID = "example-patient"
FIRED = frozenset({"conclusive", "ungraded", "advice"})
COMPARATORS = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
SYSTEMS = {
    "snomed": "http://snomed.info/sct",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "loinc": "http://loinc.org",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "ucum": "http://unitsofmeasure.org",
}
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


# --- examples.yaml -------------------------------------------------------------------------


class Spec(BaseModel):
    """Base of the example shorthand: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PatientSpec(Spec):
    """The example patient: birth date and administrative gender."""

    birth_date: str
    gender: Literal["female", "male", "other", "unknown"]


class ComplaintSpec(Spec):
    """The complaint every example carries (a SNOMED-coded Condition)."""

    code: str
    display: str
    text: str
    body_site: str | None = None
    days_ago: float = 2


class MedicationSpec(Spec):
    """A medication order, coded by RxNorm when `rxnorm` is given, else text only."""

    text: str
    rxnorm: str | None = None
    days_ago: float
    status: str = "active"
    route: str | None = None


class LabSpec(Spec):
    """A laboratory result with a UCUM quantity and, optionally, the laboratory's range."""

    loinc: str
    display: str
    value: float
    unit: str
    days_ago: float
    low: float | None = None
    high: float | None = None


class ConditionSpec(Spec):
    """An active, confirmed diagnosis."""

    code: str
    system: Literal["snomed", "icd10cm"]
    display: str
    days_ago: float
    onset_days_ago: float | None = None
    body_site: str | None = None


class StatusSpec(Spec):
    """A coded Observation (e.g. pregnancy status) with a SNOMED answer."""

    loinc: str
    display: str
    answer: str
    answer_display: str
    days_ago: float


class Item(Spec):
    """One resource of an example: exactly one of the shorthand kinds."""

    medication: MedicationSpec | None = None
    lab: LabSpec | None = None
    condition: ConditionSpec | None = None
    status: StatusSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [k for k in ("medication", "lab", "condition", "status") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of medication, lab, condition, status; got {given}")
        return self


class Example(Spec):
    """One rule's example patient: a one-line story and its resources."""

    story: str
    patient: PatientSpec | None = None
    complaint: bool = True
    resources: tuple[Item, ...] = ()


class ExamplesFile(Spec):
    """`examples.yaml`."""

    schema_version: Literal[1]
    as_of: date
    patient: PatientSpec
    complaint: ComplaintSpec
    examples: dict[str, Example]


def load_examples(path: Path = EXAMPLES) -> ExamplesFile:
    """The example patients, validated."""
    return ExamplesFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def clock(examples: ExamplesFile) -> datetime:
    """The instant the examples are dated against (noon UTC of `as_of`)."""
    return datetime.combine(examples.as_of, time(12), tzinfo=UTC)


def resources_of(example: Example, examples: ExamplesFile) -> list[JsonObject]:
    """The example as FHIR R4 resources, as an EHR's FHIR server would hold them."""
    now = clock(examples)
    subject = {"reference": f"Patient/{PATIENT_ID}"}
    person = example.patient or examples.patient
    found: list[JsonObject] = [
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "gender": person.gender,
            "birthDate": person.birth_date,
        }
    ]
    if example.complaint:
        found.append(_complaint(examples.complaint, now, subject))
    for n, item in enumerate(example.resources, start=1):
        if item.medication is not None:
            found.append(_medication(item.medication, f"med-{n}", now, subject))
        elif item.lab is not None:
            found.append(_lab(item.lab, f"lab-{n}", now, subject))
        elif item.condition is not None:
            found.append(_condition(item.condition, f"cond-{n}", now, subject))
        elif item.status is not None:
            found.append(_status(item.status, f"obs-{n}", now, subject))
    return found


def _when(now: datetime, days_ago: float) -> str:
    return (now - timedelta(days=days_ago)).isoformat()


def _concept(system: str, code: str, display: str, text: str | None = None) -> JsonObject:
    return {
        "coding": [{"system": SYSTEMS.get(system, system), "code": code, "display": display}],
        "text": text or display,
    }


def _active(kind: str = "active") -> JsonObject:
    return {"coding": [{"system": CLINICAL, "code": kind}]}


def _complaint(spec: ComplaintSpec, now: datetime, subject: JsonObject) -> JsonObject:
    condition: JsonObject = {
        "resourceType": "Condition",
        "id": "complaint",
        "subject": subject,
        "clinicalStatus": _active(),
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": _concept("snomed", spec.code, spec.display, spec.text),
        "onsetDateTime": _when(now, spec.days_ago + 7)[:10],
        "recordedDate": _when(now, spec.days_ago)[:10],
    }
    if spec.body_site:
        condition["bodySite"] = [{"text": spec.body_site}]
    return condition


def _medication(spec: MedicationSpec, rid: str, now: datetime, subject: JsonObject) -> JsonObject:
    concept: JsonObject = {"text": spec.text}
    if spec.rxnorm:
        concept = _concept("rxnorm", spec.rxnorm, spec.text)
    dosage: JsonObject = {"text": spec.text}
    if spec.route:
        dosage["route"] = {"text": spec.route}
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": spec.status,
        "intent": "order",
        "subject": subject,
        "medicationCodeableConcept": concept,
        "authoredOn": _when(now, spec.days_ago),
        "dosageInstruction": [dosage],
    }


def _lab(spec: LabSpec, rid: str, now: datetime, subject: JsonObject) -> JsonObject:
    quantity = {
        "value": spec.value,
        "unit": spec.unit,
        "system": SYSTEMS["ucum"],
        "code": spec.unit,
    }
    observation: JsonObject = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "subject": subject,
        "code": _concept("loinc", spec.loinc, spec.display),
        "effectiveDateTime": _when(now, spec.days_ago),
        "valueQuantity": quantity,
    }
    bounds = {k: v for k, v in (("low", spec.low), ("high", spec.high)) if v is not None}
    if bounds:
        observation["referenceRange"] = [{k: {**quantity, "value": v} for k, v in bounds.items()}]
    return observation


def _condition(spec: ConditionSpec, rid: str, now: datetime, subject: JsonObject) -> JsonObject:
    condition: JsonObject = {
        "resourceType": "Condition",
        "id": rid,
        "subject": subject,
        "clinicalStatus": _active(),
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
        "code": _concept(spec.system, spec.code, spec.display),
        "recordedDate": _when(now, spec.days_ago)[:10],
    }
    if spec.onset_days_ago is not None:
        condition["onsetDateTime"] = _when(now, spec.onset_days_ago)[:10]
    if spec.body_site:
        condition["bodySite"] = [{"text": spec.body_site}]
    return condition


def _status(spec: StatusSpec, rid: str, now: datetime, subject: JsonObject) -> JsonObject:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": subject,
        "code": _concept("loinc", spec.loinc, spec.display),
        "effectiveDateTime": _when(now, spec.days_ago),
        "valueCodeableConcept": _concept("snomed", spec.answer, spec.answer_display),
    }


# --- the catalogue -------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdRow:
    """One limit of an analyte a rule reads, in words."""

    analyte: str
    kind: str
    limit: str
    who: str
    note: str
    applied: bool
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Citation:
    """A source a rule cites, as the committee reads it."""

    key: str
    short: str
    text: str
    url: str | None
    verified: bool


@dataclass(frozen=True)
class OrderRow:
    """An order a rule may suggest, with its codes."""

    label: str
    recommended: bool
    codes: tuple[tuple[str, str, str], ...]  # system, code, display


@dataclass(frozen=True)
class ExampleCard:
    """The example patient's card that carries the rule, or why there is none."""

    story: str
    card: Card | None
    other_cards: int
    problem: str | None = None


@dataclass(frozen=True)
class CatalogueRule:
    """Everything the catalogue says about one rule."""

    id: str
    version: str
    state: str
    family: str
    title: str
    severity: str
    grading: str
    population: str
    logic: str
    inputs: tuple[tuple[str, str], ...]
    parameters: tuple[tuple[str, str], ...]
    thresholds: tuple[ThresholdRow, ...]
    windows: tuple[tuple[str, str], ...]
    orders: tuple[OrderRow, ...]
    citations: tuple[Citation, ...]
    supersedes: tuple[str, ...]
    example: ExampleCard | None


@dataclass(frozen=True)
class Catalogue:
    """The whole catalogue of one knowledge set."""

    knowledge: KnowledgeRef
    as_of: datetime
    generated_at: datetime
    grading_policy: Mapping[str, str]
    rules: tuple[CatalogueRule, ...]
    families: Mapping[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Rules per state."""
        found: dict[str, int] = {}
        for rule in self.rules:
            found[rule.state] = found.get(rule.state, 0) + 1
        return found


def build_catalogue(
    knowledge_dir: Path | None = None,
    examples_path: Path = EXAMPLES,
    states: Mapping[str, str] | None = None,
) -> Catalogue:
    """The catalogue of the knowledge in `knowledge_dir`, each rule's example run through it.

    `states` overrides a rule's state (issue 12's rule switches); by default a rule is "on" when
    the knowledge enables it, else "off".
    """
    examples = load_examples(examples_path)
    engine = engine_for(EngineSpec.of(clock(examples), knowledge_dir))
    kb = engine.pipeline.registry.knowledge
    rules = tuple(
        _rule(rule, kb, engine, examples, (states or {}).get(rule.id))
        for rule in kb.catalogue(engine.spec.service_id)
    )
    return Catalogue(
        knowledge=engine.knowledge,
        as_of=clock(examples),
        generated_at=datetime.now(UTC),
        grading_policy={
            "info": kb.grading_policy.info,
            "warning": kb.grading_policy.warning,
            "critical": kb.grading_policy.critical,
            "stale": kb.grading_policy.stale,
        },
        rules=rules,
        families={key: f.label for key, f in kb.cards.families.items()},
    )


def _rule(
    rule: RuleDef, kb: KnowledgeBase, engine: Engine, examples: ExamplesFile, state: str | None
) -> CatalogueRule:
    example = examples.examples.get(rule.id)
    return CatalogueRule(
        id=rule.id,
        version=rule.version,
        state=state or rule.state.value,
        family=rule.family.value,
        title=rule.title,
        severity=rule.severity.value,
        grading=rule.grading,
        population=rule.population,
        logic=rule.logic,
        inputs=_inputs(rule, kb),
        parameters=tuple((k, _value(v)) for k, v in rule.parameters.items()),
        thresholds=_thresholds(rule, kb),
        windows=_windows(rule, kb),
        orders=tuple(_order(key, kb) for key in rule.orders if key in kb.cards.orders),
        citations=_citations(rule, kb),
        supersedes=rule.supersedes,
        example=(
            _example(rule, example, examples, engine)
            if example and rule.state is not RuleState.OFF
            else None
        ),
    )


def _value(value: Any) -> str:
    """A parameter value in words: lists joined, mappings as `key: value`, nested in braces."""
    if isinstance(value, tuple | list):
        return "; ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_nested(v)}" for k, v in value.items())
    return str(value)


def _nested(value: Any) -> str:
    return f"({_value(value)})" if isinstance(value, tuple | list | dict) else str(value)


def _inputs(rule: RuleDef, kb: KnowledgeBase) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    found += [("drug", kb.drugs.classes[c].display) for c in rule.inputs.drug_classes]
    found += [("lab", kb.labs.analytes[a].display) for a in rule.inputs.labs]
    found += [("condition", kb.conditions.groups[g].display) for g in rule.inputs.conditions]
    return tuple(found)


def _thresholds(rule: RuleDef, kb: KnowledgeBase) -> tuple[ThresholdRow, ...]:
    rows: list[ThresholdRow] = []
    for key in rule.inputs.labs:
        analyte = kb.labs.analytes[key]
        for kind, limits in analyte.thresholds.items():
            for limit in limits:
                ages = f"age {limit.min_age}" + (
                    f"-{limit.max_age}" if limit.max_age is not None else "+"
                )
                rows.append(
                    ThresholdRow(
                        analyte=analyte.display,
                        kind=kind.replace("_", " "),
                        limit=" or ".join(
                            f"{COMPARATORS[limit.comparator]} {v:g} {unit}"
                            for unit, v in limit.values.items()
                        ),
                        who=ages + (f", {limit.sex}" if limit.sex else ""),
                        note="only without a laboratory flag"
                        if limit.without_interpretation
                        else "",
                        applied=limit.usable,
                        sources=limit.sources,
                    )
                )
    return tuple(rows)


def _windows(rule: RuleDef, kb: KnowledgeBase) -> tuple[tuple[str, str], ...]:
    found = []
    for key in rule.inputs.labs:
        analyte = kb.labs.analytes[key]
        words = [f"results older than {analyte.stale_after_days} days are not used"]
        if analyte.act_within_days is not None:
            words.append(f"act on results up to {analyte.act_within_days} days old")
        found.append((analyte.display, "; ".join(words)))
    return tuple(found)


def _order(key: str, kb: KnowledgeBase) -> OrderRow:
    order = kb.cards.orders[key]
    return OrderRow(
        label=order.label,
        recommended=order.recommended,
        codes=tuple((t.system, t.code, t.display or t.code) for t in order.tests),
    )


def _citations(rule: RuleDef, kb: KnowledgeBase) -> tuple[Citation, ...]:
    keys = list(
        dict.fromkeys([*rule.sources, *(k for v in rule.template_sources.values() for k in v)])
    )
    found = []
    for key in keys:
        source = kb.sources.get(key)
        if source is not None:
            verified = source.flag in ("V", "V*")
            found.append(Citation(key, source.short, source.citation, source.url, verified))
    return tuple(found)


def _example(
    rule: RuleDef, example: Example, examples: ExamplesFile, engine: Engine
) -> ExampleCard:
    cards, error = engine.run(resources_of(example, examples))
    if error is not None:
        return ExampleCard(
            example.story, None, 0, f"the service could not evaluate it: {error.cause}"
        )
    key = engine.extension_key
    for card in cards:
        findings = ((card.extension or {}).get(key) or {}).get("findings") or ()
        if any(f["ruleId"] == rule.id and f["status"] in FIRED for f in findings):
            return ExampleCard(example.story, card, len(cards) - 1)
    return ExampleCard(example.story, None, len(cards), "no card of this example cites the rule")


def missing_examples(catalogue: Catalogue) -> list[str]:
    """Enabled rules with no example, or whose example does not produce their card."""
    return [
        rule.id
        for rule in catalogue.rules
        if rule.state != "off" and (rule.example is None or rule.example.card is None)
    ]


def render(catalogue: Catalogue) -> tuple[str, str]:
    """The catalogue as (HTML page, Markdown)."""
    from cds_service.workbench.pages import render_catalogue

    return render_catalogue(catalogue)


def families_by_severity(rules: Sequence[CatalogueRule]) -> dict[str, dict[str, int]]:
    """Rules that run, per family and severity (for the overview chart)."""
    found: dict[str, dict[str, int]] = {}
    for rule in rules:
        if rule.state == "off":
            continue
        found.setdefault(rule.family, {}).setdefault(rule.severity, 0)
        found[rule.family][rule.severity] += 1
    return found
