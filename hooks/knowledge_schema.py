"""Schemas of the files in `knowledge/`: frozen pydantic models that forbid unknown fields.

Shape only; cross-file consistency is checked in `hooks.knowledge_checks`, lookups are built
in `hooks.knowledge_index`. No clinical content lives here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
    """Codes and words that make a record a spasm/cramp/twitch complaint."""

    snomed: tuple[CodeEntry, ...]
    icd10cm_prefixes: tuple[CodeEntry, ...]
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
    """Days a complaint source stays current; None means no limit."""

    condition: int | None
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


class DrugsFile(Versioned):
    """`drugs.yaml`."""

    statuses: MedicationStatuses
    routes: dict[Key, RouteDef]
    local_atc_prefixes: tuple[CodeEntry, ...]
    classes: dict[Key, DrugClass]
    ingredients: dict[Key, Ingredient]
    products: dict[Text, Product]


# --- labs.yaml ---------------------------------------------------------------------------------


class Threshold(Frozen):
    """A default limit, stated per unit as its source states it."""

    comparator: Literal["lt", "le", "gt", "ge"]
    values: dict[Text, float]
    flag: Flag
    sources: tuple[Key, ...]
    note: str | None = None


class CalciumCorrection(Frozen):
    """Albumin correction of total calcium (mg/dL and g/dL)."""

    coefficient: float
    reference_albumin: float
    max_days_apart: int
    calcium_unit: Text
    albumin_unit: Text
    flag: Flag
    sources: tuple[Key, ...]


class Analyte(Frozen):
    """A laboratory analyte: codes, canonical unit, conversions, defaults and staleness."""

    display: Text
    short: Text
    canonical_unit: Text
    conversions: dict[Text, float]
    stale_after_days: int = Field(gt=0)
    loinc: tuple[CodeEntry, ...]
    thresholds: dict[Key, Threshold] = Field(default_factory=dict)


class DepletingRecency(Frozen):
    """A shorter staleness window for analytes a current drug depletes (reference §3.4)."""

    days: int = Field(gt=0)
    drug_classes: tuple[Key, ...]
    analytes: tuple[Key, ...]
    sources: tuple[Key, ...]


class LabsFile(Versioned):
    """`labs.yaml`."""

    valid_statuses: tuple[Text, ...]
    adult_age_years: int = Field(gt=0)
    unit_aliases: dict[Text, Text]
    calcium_correction: CalciumCorrection
    depleting_drug_recency: DepletingRecency
    analytes: dict[Key, Analyte]


# --- conditions.yaml ---------------------------------------------------------------------------


class ConditionGroup(Frozen):
    """A set of diagnoses a rule reads: SNOMED exact codes and ICD-10-CM prefixes."""

    display: Text
    snomed: tuple[CodeEntry, ...] = ()
    icd10cm_prefixes: tuple[CodeEntry, ...] = ()
    lookups: tuple[Lookup, ...] = ()


class ConditionsFile(Versioned):
    """`conditions.yaml`."""

    groups: dict[Key, ConditionGroup]


# --- rules.yaml --------------------------------------------------------------------------------

ParamValue = int | float | str | tuple[str, ...] | dict[str, int]


class RuleInputs(Frozen):
    """What a rule reads; also drives the prefetch LOINC list."""

    drug_classes: tuple[Key, ...] = ()
    labs: tuple[Key, ...] = ()
    conditions: tuple[Key, ...] = ()


class RuleDef(Frozen):
    """One catalogue rule: identity, logic in words, grading, parameters and citations."""

    id: Key
    version: SemVer
    family: Family
    title: Text
    inputs: RuleInputs
    logic: Text
    severity: Severity
    grading: Text
    parameters: dict[Key, ParamValue]
    templates: tuple[Key, ...] = Field(min_length=1)
    orders: tuple[Key, ...]
    sources: tuple[Key, ...] = Field(min_length=1)
    template_sources: dict[Key, tuple[Key, ...]] = Field(default_factory=dict)
    supersedes: tuple[Key, ...] = ()
    enabled: bool


class RulesFile(Versioned):
    """`rules.yaml`: rules plus the wording rules use for evidence lines and caveats."""

    rules: tuple[RuleDef, ...]
    wording: dict[Key, Text]
