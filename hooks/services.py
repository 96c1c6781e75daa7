"""The services this server hosts. Adding a service: declare it in `hooks/<hook>/`, list it here."""

from __future__ import annotations

from hooks.patient_view.knee_spasm import knee_spasm_review
from hooks.registry import ServiceSpec

SERVICES: tuple[ServiceSpec, ...] = (knee_spasm_review,)
