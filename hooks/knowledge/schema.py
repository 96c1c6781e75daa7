"""Schemas of the files in `knowledge/`: frozen pydantic models that forbid unknown fields.

Shape only; cross-file consistency is checked in `hooks.knowledge.checks`, lookups are built
in `hooks.knowledge.index`. No clinical content lives here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, field_validator

from hooks.findings import Family, Severity

Flag = Literal["V", "V*", "M", "LOOKUP"]
SemVer = Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
Text = Annotated[str, StringConstraints(min_length=1)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")]
USABLE_FLAGS = frozenset({"V", "V*"})


class KnowledgeError(ValueError):
    """A knowledge file is missing or invalid; the message names the file and the field."""


class Frozen(BaseModel):
    """Base of every knowledge model: immutable, and a typo in a field name is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Versioned(Frozen):
    """Every knowledge file states its schema version; the knowledge version is the manifest's."""

    schema_version: Literal[1]


class CodeEntry(Frozen):
    """A code with its verification flag; M and LOOKUP codes are kept but never matched."""

    code: Text
    display: str | None = None
    flag: Flag
    sources: tuple[Key, ...] = ()
    note: str | None = None
    match: bool | None = None

    @property
    def usable(self) -> bool:
        """Whether matching may use this code (verified, and not switched off)."""
        return self.flag in USABLE_FLAGS and self.match is not False


class Lookup(Frozen):
    """A concept whose code is unknown; documents the gap, matches nothing."""

    term: Text
    flag: Flag
    note: str | None = None


class SourceDef(Frozen):
    """A citation behind codes, thresholds and rules."""

    short: Text
    citation: Text
    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$")] | None = None
    flag: Flag


class SourcesFile(Versioned):
    """`sources.yaml`."""

    sources: dict[Key, SourceDef]


class Systems(Frozen):
    """FHIR code-system URIs the service reads."""

    snomed: Text
    icd10cm: Text
    loinc: Text
    rxnorm: Text
    atc: Text
    ucum: Text


class Manifest(Versioned):
    """`manifest.yaml`: the files that make up one knowledge set, and its one version."""

    knowledge_version: SemVer
    files: tuple[Text, ...]
    systems: Systems


# --- triggers.yaml -----------------------------------------------------------------------------


class ComplaintCodes(Frozen):
    """Codes and words that make a record a spasm/cramp/twitch complaint, and place it in a limb."""

    snomed: tuple[CodeEntry, ...]
    icd10cm_prefixes: tuple[CodeEntry, ...]
    limb_snomed: tuple[CodeEntry, ...] = ()
    limb_icd10cm_prefixes: tuple[CodeEntry, ...] = ()
    limb_keywords: tuple[Text, ...] = ()
    twitch_groups: tuple[Key, ...] = ()
    non_limb_sites: tuple[Text, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    text_keywords: tuple[Text, ...]
    text_exclusions: tuple[Text, ...] = ()


class KneeCodes(Frozen):
    """Codes and words that put the complaint at the knee (wording only)."""

    snomed: tuple[CodeEntry, ...]
    icd10cm_prefixes: tuple[CodeEntry, ...]
    body_site_snomed: tuple[CodeEntry, ...] = ()
    text_keywords: tuple[Text, ...]


class Lookbacks(Frozen):
    """Days a complaint source stays current."""

    condition: int = Field(gt=0)
    encounter_reason: int
    observation: int


class TriggerStatuses(Frozen):
    """FHIR status codes that decide whether a record counts."""

    condition_clinical: tuple[Text, ...]
    condition_verification_excluded: tuple[Text, ...]
    condition_categories: tuple[Text, ...]
    observation_excluded: tuple[Text, ...]
    encounter_excluded: tuple[Text, ...]


class TriggersFile(Versioned):
    """`triggers.yaml`."""

    complaint: ComplaintCodes
    knee: KneeCodes
    lookback_days: Lookbacks
    statuses: TriggerStatuses


# --- drugs.yaml --------------------------------------------------------------------------------


class RouteDef(Frozen):
    """A route category and the words that name it in routes, dose forms and product names."""

    systemic: bool
    words: tuple[Text, ...]


class DrugClass(Frozen):
    """A class of drugs one or more rules act on."""

    display: Text
    atc_prefixes: tuple[CodeEntry, ...] = ()
    systemic_routes: tuple[Key, ...] | None = None
    depletes: tuple[Key, ...] = ()
    raises: tuple[Key, ...] = ()
    keep_past: bool = False


class Ingredient(Frozen):
    """An ingredient with its codes (flagged), names and whether local forms exist."""

    display: Text
    classes: tuple[Key, ...]
    rxnorm: tuple[CodeEntry, ...] = ()
    atc: tuple[CodeEntry, ...] = ()
    names: tuple[Text, ...]
    name_exclusions: tuple[Text, ...] = ()
    local_forms: bool = False
    lookups: tuple[Lookup, ...] = ()


class Product(Frozen):
    """An RxNorm product code (SCD/SBD/SCDC) attributed to ingredients."""

    display: Text
    ingredients: tuple[Key, ...]
    flag: Flag
    sources: tuple[Key, ...]
    note: str | None = None
    value_set: str | None = None
    match: bool | None = None

    @property
    def usable(self) -> bool:
        """Whether matching may use this product code."""
        return self.flag in USABLE_FLAGS and self.match is not False


class MedicationStatuses(Frozen):
    """Which request/statement statuses are current, and which are past but remembered."""

    request_current: tuple[Text, ...]
    request_past: tuple[Text, ...]
    statement_current: tuple[Text, ...]
    statement_past: tuple[Text, ...]


class CurrentUse(Frozen):
    """When an active record is current exposure, and how continuous use is dated."""

    recent_within_days: int = Field(gt=0)
    continuity_gap_days: int = Field(gt=0)
    sources: tuple[Key, ...]


class DrugsFile(Versioned):
    """`drugs.yaml`."""

    statuses: MedicationStatuses
    current_use: CurrentUse
    routes: dict[Key, RouteDef]
    local_atc_prefixes: tuple[CodeEntry, ...]
    classes: dict[Key, DrugClass]
    ingredients: dict[Key, Ingredient]
    products: dict[Text, Product]


# --- labs.yaml ---------------------------------------------------------------------------------


class Threshold(Frozen):
    """A default limit for one age band (and sex), stated per unit as its source states it.

    Ages are whole years of the youngest age the patient can be; bands never reach infancy
    (min_age >= 1), where ranges differ and only the laboratory's own judgement applies.
    `without_interpretation`: a panic-limit fallback used only when the laboratory sent no
    interpretation code (addendum §1.2); other limits apply whatever the laboratory flagged.
    An M-flagged limit is kept for review but never applied, like an M code.
    """

    comparator: Literal["lt", "le", "gt", "ge"]
    values: dict[Text, float]
    flag: Flag
    sources: tuple[Key, ...]
    note: str | None = None
    min_age: int = Field(default=18, ge=1)
    max_age: int | None = Field(default=None, ge=1)
    sex: Literal["male", "female"] | None = None
    without_interpretation: bool = False

    @property
    def usable(self) -> bool:
        """Verified limits only."""
        return self.flag in USABLE_FLAGS

    def applies(self, age: int | None, sex: str | None) -> bool:
        """Whether the limit covers a patient of this (youngest possible) age and sex."""
        if age is None or age < self.min_age or (self.max_age is not None and age > self.max_age):
            return False
        return self.sex is None or self.sex == sex


class Disorder(CodeEntry):
    """A coded disorder naming a finding, for the reasonCode of the orders it suggests."""

    system: Literal["snomed", "icd10cm"] = "snomed"


class CalciumCorrection(Frozen):
    """Which calcium result is judged, and the albumin correction of total calcium (mg/dL, g/dL).

    The analytes: `total` calcium (corrected for `albumin`), a laboratory's `lab_corrected`
    calcium (used as reported) and `ionized` calcium (preferred when measured near the total).
    """

    total: Key
    lab_corrected: Key
    ionized: Key
    albumin: Key
    coefficient: float
    reference_albumin: float
    max_days_apart: int
    calcium_unit: Text
    albumin_unit: Text
    flag: Flag
    sources: tuple[Key, ...]


class Analyte(Frozen):
    """A laboratory analyte: codes, canonical unit, conversions, defaults and recency.

    `stale_after_days`: older results say nothing about today and are not shown.
    `act_within_days`: results older than this never drive "act now" wording or a grade above
    info; they are shown with their age and a recheck (addendum §3, §11 policy 4).
    `history_days`: usable results this long before the newest one are kept too (for trends).
    `approximate_units`: units accepted only as an approximation, always said so on the card.
    """

    display: Text
    short: Text
    canonical_unit: Text
    conversions: dict[Text, float]
    stale_after_days: int = Field(gt=0)
    act_within_days: int | None = Field(default=None, gt=0)
    history_days: int | None = Field(default=None, gt=0)
    approximate_units: dict[Text, Text] = Field(default_factory=dict)
    loinc: tuple[CodeEntry, ...]
    thresholds: dict[Key, tuple[Threshold, ...]] = Field(default_factory=dict)
    disorders: dict[Literal["low", "high"], Disorder] = Field(default_factory=dict)


class Interpretation(Frozen):
    """Observation.interpretation codes the service honours before any default (addendum §1.3)."""

    systems: tuple[Text, ...]
    low: tuple[Text, ...]
    high: tuple[Text, ...]
    abnormal: tuple[Text, ...]
    normal: tuple[Text, ...]
    critical: tuple[Text, ...]
    flag: Flag
    sources: tuple[Key, ...]


class AnalyteLimit(Frozen):
    """A limit on one analyte's canonical value."""

    analyte: Key
    value: float


class Repletion(Frozen):
    """When potassium or magnesium replacement may be advised, and when it must not be (§3).

    A result older than `high_risk_within_days` (in a high-risk patient) or taken before the
    latest start of a drug in `altering_classes` gives "recheck first", never "replete".
    Replacement is never advised with an `unsafe` condition, a recent result below
    `unsafe_below` (eGFR), a current supplement of that analyte, or both classes of an
    `unsafe_pairs` entry. `replete_first`: a low value of the key will not correct while the
    analyte it names is low, so a recent low one is named with it.
    """

    analytes: tuple[Key, ...]
    high_risk_within_days: int = Field(gt=0)
    high_risk_classes: tuple[Key, ...]
    high_risk_conditions: tuple[Key, ...]
    altering_classes: tuple[Key, ...]
    unsafe_conditions: tuple[Key, ...]
    unsafe_below: AnalyteLimit
    supplements: dict[Key, tuple[Key, ...]]
    unsafe_pairs: tuple[tuple[Key, Key], ...]
    replete_first: dict[Key, Key] = Field(default_factory=dict)
    sources: tuple[Key, ...]


class Escalation(Frozen):
    """What makes a low value critical whatever its grade (addendum §4, §11).

    A current drug of `drug_classes`, an active condition of `conditions`, or one of
    `new_conditions` recorded within `new_within_days`; for analytes with an `escalate_low`
    limit, only below it.
    """

    analytes: tuple[Key, ...]
    drug_classes: tuple[Key, ...]
    conditions: tuple[Key, ...]
    new_conditions: tuple[Key, ...]
    new_within_days: int = Field(gt=0)
    sources: tuple[Key, ...]


class LabsFile(Versioned):
    """`labs.yaml`."""

    valid_statuses: tuple[Text, ...]
    adult_age_years: int = Field(gt=0)
    unit_aliases: dict[Text, Text]
    interpretation: Interpretation
    calcium_correction: CalciumCorrection
    repletion: Repletion
    escalation: Escalation
    analytes: dict[Key, Analyte]


# --- conditions.yaml ---------------------------------------------------------------------------


class ConditionGroup(Frozen):
    """A set of diagnoses a rule reads: SNOMED exact codes and ICD-10-CM prefixes."""

    display: Text
    snomed: tuple[CodeEntry, ...] = ()
    icd10cm_prefixes: tuple[CodeEntry, ...] = ()
    icd10cm_exclusions: tuple[CodeEntry, ...] = ()
    lookups: tuple[Lookup, ...] = ()


class PregnancyDef(Frozen):
    """How pregnancy and its gestation are read (codes in the condition group `group`)."""

    group: Key
    status_loinc: CodeEntry
    pregnant_answers: tuple[Text, ...]
    not_pregnant_answers: tuple[Text, ...]
    current_within_days: int = Field(gt=0)
    gestation_prefix: Text
    sources: tuple[Key, ...]


class Laterality(Frozen):
    """Body-site laterality qualifier codes."""

    left: CodeEntry
    right: CodeEntry


class ConditionsFile(Versioned):
    """`conditions.yaml`."""

    groups: dict[Key, ConditionGroup]
    pregnancy: PregnancyDef
    laterality: Laterality


# --- rules.yaml --------------------------------------------------------------------------------


class RuleState(StrEnum):
    """A rule's run-time state: shown, computed and recorded but withheld, or not computed."""

    ON = "on"
    SHADOW = "shadow"
    OFF = "off"

    @property
    def rank(self) -> int:
        """Order for combining a rule's state with the service's (the lower one wins)."""
        return _STATE_RANK[self]


_STATE_RANK = {RuleState.OFF: 0, RuleState.SHADOW: 1, RuleState.ON: 2}


class RuleInputs(Frozen):
    """What a rule reads; also drives the prefetch LOINC list."""

    drug_classes: tuple[Key, ...] = ()
    labs: tuple[Key, ...] = ()
    conditions: tuple[Key, ...] = ()


class RuleDef(Frozen):
    """One catalogue rule: identity, logic in words, grading, parameters and citations.

    `service`: the id of the CDS service whose catalogue the rule belongs to; that service
    declares the rule's implementation, and the registry checks the two agree.
    `population`: "adults" when the rule's evidence is adult-only; it then stays silent for
    children and unknown ages rather than applying adult evidence to them.
    `parameters`: shaped by the implementation's parameters model (`hooks.knowledge.params`),
    which the registry validates, with every knowledge key it names, at start-up.
    `state`: the state the rule ships in (on, shadow or off); a deployment may switch it at run
    time (`cds-service rules set`), except that a rule citing an unverified source stays off.
    """

    id: Key
    service: Key
    version: SemVer
    family: Family
    title: Text
    inputs: RuleInputs
    logic: Text
    severity: Severity
    grading: Text
    population: Literal["all", "adults"] = "all"
    parameters: dict[Key, JsonValue]
    templates: tuple[Key, ...] = Field(min_length=1)
    orders: tuple[Key, ...]
    sources: tuple[Key, ...] = Field(min_length=1)
    template_sources: dict[Key, tuple[Key, ...]] = Field(default_factory=dict)
    supersedes: tuple[Key, ...] = ()
    state: RuleState

    @field_validator("state", mode="before")
    @classmethod
    def _quoted_state(cls, value: object) -> object:
        # YAML 1.1 reads a bare `on`/`off` as a boolean: say how to write it, never guess.
        if isinstance(value, bool):
            raise ValueError('write the state in quotes ("on", "shadow" or "off")')
        return value


class GradingPolicy(Frozen):
    """What each card indicator means for the clinician (addendum §11), and the staleness rule."""

    info: Text
    warning: Text
    critical: Text
    stale: Text
    sources: tuple[Key, ...]


class RulesFile(Versioned):
    """`rules.yaml`: the grading policy, the rules, and the wording they use for evidence lines."""

    grading_policy: GradingPolicy
    rules: tuple[RuleDef, ...]
    wording: dict[Key, Text]
