"""Hook definitions (CDS Hooks Hook Library): each hook's context model and prefetch tokens."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

# FHIR R4 id datatype; enforcing it keeps ids from smuggling paths or queries into FHIR URLs.
FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
# patient-view userId: "Must be in the format [ResourceType]/[id]" (Hook Library patient-view 1.0).
PATIENT_VIEW_USER = r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$"

# CDS Hooks 2.0 §Prefetch tokens: user identifiers derived from context.userId.
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class HookContext(BaseModel):
    """Base of hook contexts; unknown context fields are ignored, as the spec allows."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    user_id: str = Field(alias="userId")

    def token_values(self) -> dict[str, str]:
        """Values for `{{context.X}}` and `{{userXId}}` prefetch tokens."""
        values = {
            f"context.{key}": value
            for key, value in self.model_dump(by_alias=True, exclude_none=True).items()
            if isinstance(value, str)
        }
        user_type, _, user_id = self.user_id.partition("/")
        for token, resource_type in USER_TOKENS.items():
            if user_type == resource_type and user_id:
                values[token] = user_id
        return values


class PatientViewContext(HookContext):
    """patient-view context (Hook Library 1.0): the user opened this patient's record."""

    user_id: str = Field(alias="userId", pattern=PATIENT_VIEW_USER)
    patient_id: str = Field(alias="patientId", pattern=FHIR_ID)
    encounter_id: str | None = Field(default=None, alias="encounterId", pattern=FHIR_ID)


@dataclass(frozen=True, slots=True)
class HookDefinition:
    """A hook this server can serve: its context model and the tokens its templates may use."""

    name: str
    context_model: type[HookContext]

    @property
    def tokens(self) -> frozenset[str]:
        """Legal prefetch tokens: root-level primitive context fields plus user ids."""
        fields = {
            f"context.{info.alias or name}"
            for name, info in self.context_model.model_fields.items()
        }
        return frozenset(fields | USER_TOKENS.keys())


HOOKS: dict[str, HookDefinition] = {
    "patient-view": HookDefinition("patient-view", PatientViewContext),
}
