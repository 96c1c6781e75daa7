"""The workbench's file formats: replay.json, patients.ndjson and report.json, as pydantic models.

Field names are snake_case on disk as in Python: these files are read by informaticists' notebooks
and spreadsheets, not by EHRs. Patients appear only as keyed hashes (`patient`), never by id.
Every model forbids unknown fields, so a typo in a producer is caught by the tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
# The ledger states a finding can be in. Issue 12 (governance) adds shadow, snoozed and off;
# until then every ledger row is a card that was shown.
LedgerState = Literal["shown", "shadow", "snoozed", "off"]
INDICATORS = ("info", "warning", "critical")


class Record(BaseModel):
    """Base of every workbench record: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- patients.ndjson ---------------------------------------------------------------------------


class RuleHit(Record):
    """A rule as a card cites it (the card's machine-readable findings extension)."""

    rule: str
    version: str
    status: str  # conclusive | ungraded | no-conclusion | advice
    severity: str


class SuggestedOrder(Record):
    """One suggestion on a card: its label and the codes of its draft ServiceRequests."""

    label: str
    codes: tuple[str, ...]


class CardDigest(Record):
    """What a committee needs of one card: no wording beyond the summary, no uuids."""

    family: str
    indicator: Literal["info", "warning", "critical"]
    summary: str
    rules: tuple[RuleHit, ...]
    orders: tuple[SuggestedOrder, ...] = ()

    @property
    def fired_rules(self) -> tuple[str, ...]:
        """Rules the card stands on or carries (advice), not the ones that could not conclude."""
        return tuple(hit.rule for hit in self.rules if hit.status != "no-conclusion")


class PatientError(Record):
    """Why a patient could not be evaluated. Never an exception message (it may hold PHI)."""

    cause: str
    details: tuple[str, ...] = ()
    # The input file (and line, for NDJSON) so the operator can find it; see README.
    source: str | None = None


class Evaluation(Record):
    """The service's answer for one patient under one knowledge set: cards or an error."""

    cards: tuple[CardDigest, ...] = ()
    error: PatientError | None = None


class PatientRecord(Record):
    """One line of patients.ndjson."""

    patient: str | None  # keyed hash of the Patient id; None when no single patient was found
    cards: tuple[CardDigest, ...] = ()
    rules: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()
    error: PatientError | None = None
    baseline: Evaluation | None = None
    changed: bool | None = None


# --- replay.json -------------------------------------------------------------------------------


class KnowledgeRef(Record):
    """Which knowledge set produced the cards."""

    version: str
    digest: str
    directory: str


class Count(Record):
    """A count with its rate per 100 patients evaluated."""

    key: str
    label: str | None = None
    count: int
    per_100_patients: float


class RuleCount(Record):
    """How often one rule appeared on a card, and its part of all rule firings."""

    rule: str
    title: str
    family: str
    patients: int
    per_100_patients: float
    cards_led: int
    share_of_volume: float
    by_indicator: dict[str, int] = Field(default_factory=dict)
    no_conclusion: int = 0


class TopShare(Record):
    """Concentration of alert volume (Chaparro 2020: 25 alerts made 90% of the volume)."""

    top: int
    share: float


class Summary(Record):
    """Counts for one knowledge set over the replayed patients."""

    knowledge: KnowledgeRef
    patients: int
    evaluated: int
    errors: int
    patients_with_cards: int
    cards: int
    cards_per_patient: float
    cards_per_100_patients: float
    rule_firings: int
    by_rule: tuple[RuleCount, ...]
    by_family: tuple[Count, ...]
    by_indicator: tuple[Count, ...]
    by_order: tuple[Count, ...]
    top_share: tuple[TopShare, ...]
    rules_for_90_percent: int
    errors_by_cause: dict[str, int] = Field(default_factory=dict)


class RuleDelta(Record):
    """One rule before (baseline) and after (the knowledge under review)."""

    rule: str
    title: str
    before: int
    after: int
    delta: int


class ChangedPatient(Record):
    """A patient whose cards differ between the two knowledge sets."""

    patient: str | None
    before: tuple[CardDigest, ...]
    after: tuple[CardDigest, ...]


class Comparison(Record):
    """The effect of a knowledge change over the same patients."""

    baseline: Summary
    by_rule: tuple[RuleDelta, ...]
    changed_patients: int
    changed: tuple[ChangedPatient, ...]
    changed_listed: int


class InputSummary(Record):
    """What was read."""

    json_files: int  # *.json inputs; those that are not Bundles are listed in skipped
    ndjson_files: int
    skipped: tuple[PatientError, ...] = ()
    ndjson_outside_compartment: dict[str, int] = Field(default_factory=dict)


class RunInfo(Record):
    """How the replay ran; timings are for the run as a whole."""

    started_at: datetime
    elapsed_seconds: float
    patients_per_second: float
    executor: str
    workers: int


class ReplayResult(Record):
    """replay.json."""

    format_version: int = FORMAT_VERSION
    service: str
    as_of: datetime
    added: tuple[str, ...]
    inputs: InputSummary
    run: RunInfo
    summary: Summary
    errors: tuple[PatientError, ...]
    errors_listed: int
    comparison: Comparison | None = None


# --- report.json -------------------------------------------------------------------------------


class FeedbackCounts(Record):
    """Feedback joined to cards: the latest outcome per card counts."""

    cards: int
    with_feedback: int
    accepted: int
    overridden: int
    acceptance_rate: float | None
    override_rate: float | None
    accepted_suggestions: int


class ReportRule(Record):
    """One rule in the ledger window."""

    rule: str
    title: str
    family: str
    states: dict[str, int]
    cards: int
    patients: int
    by_indicator: dict[str, int]
    feedback: FeedbackCounts


class Reason(Record):
    """An override reason as clinicians gave it."""

    code: str | None
    display: str | None
    count: int


class Period(Record):
    """One time bucket of the window (a day or an ISO week)."""

    start: datetime
    cards: int
    by_indicator: dict[str, int]
    by_rule: dict[str, int]
    accepted_by_rule: dict[str, int]
    feedback_by_rule: dict[str, int]


class ReportResult(Record):
    """report.json."""

    format_version: int = FORMAT_VERSION
    generated_at: datetime
    since: datetime | None
    until: datetime | None
    bucket: Literal["day", "week"]
    services: tuple[str, ...]
    knowledge_versions: dict[str, int]
    cards: int
    distinct_patients: int
    cards_per_100_distinct_patients: float | None
    states: dict[str, int]
    by_indicator: dict[str, int]
    feedback: FeedbackCounts
    unknown_card_feedback: int
    by_rule: tuple[ReportRule, ...]
    override_reasons: tuple[Reason, ...]
    periods: tuple[Period, ...]
