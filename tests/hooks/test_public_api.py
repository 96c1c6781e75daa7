"""The service author's API is what `hooks.__all__` says (after httpx's test_exported_members)."""

from __future__ import annotations

import inspect

import hooks


def test_every_exported_name_exists_is_sorted_and_unique() -> None:
    names = hooks.__all__
    assert [name for name in names if not hasattr(hooks, name)] == []
    assert names == sorted(names, key=lambda n: (not n.isupper(), n.isupper() or n[0].islower(), n))
    assert len(set(names)) == len(names)


def test_exported_classes_and_functions_are_documented_and_our_own() -> None:
    for name in hooks.__all__:
        member = getattr(hooks, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__module__.startswith("hooks."), name
            assert inspect.getdoc(member), f"{name} has no docstring"


def test_a_service_can_be_written_from_the_exports_alone() -> None:
    @hooks.cds_service(
        id="api-probe",
        hook="patient-view",
        title="Probe",
        description="Written with hooks.__all__ only.",
        prefetch={"patient": hooks.Prefetch("Patient/{{context.patientId}}")},
    )
    def probe(call: hooks.HookCall[hooks.PatientViewContext]) -> hooks.Assessment:
        return hooks.Assessment()

    registry = hooks.Registry([probe], hooks.load_knowledge())
    assert [spec.id for spec in registry] == ["api-probe"]
