"""Medication recognition: codes before names, statuses, routes and referenced Medications."""

from __future__ import annotations

from typing import Any

import pytest

from hooks.patient_view.facts.medications import MatchBasis, MedicationUse, read_medications
from tests.builders import (
    knowledge,
    make_call,
    make_med_request,
    make_med_statement,
    make_medication,
)


def _uses(*resources: dict[str, Any]) -> tuple[MedicationUse, ...]:
    return read_medications(make_call(list(resources)).data, knowledge()).uses


def _one(*resources: dict[str, Any]) -> MedicationUse:
    [use] = _uses(*resources)
    return use


@pytest.mark.parametrize(
    ("request_kwargs", "ingredient", "basis"),
    [
        ({"rxnorm": "4603"}, "furosemide", MatchBasis.RXNORM_INGREDIENT),
        (
            {"rxnorm": "313988", "display": "furosemide 40 MG Oral Tablet"},
            "furosemide",
            MatchBasis.RXNORM_PRODUCT,
        ),
        (
            {"rxnorm": "316049", "display": "Hydrochlorothiazide 25 MG"},
            "hydrochlorothiazide",
            MatchBasis.RXNORM_PRODUCT,
        ),
        (
            {"rxnorm": "316672", "display": "Simvistatin 10 MG"},
            "simvastatin",
            MatchBasis.RXNORM_PRODUCT,
        ),
        ({"rxnorm": "315971", "display": "Lasix 40mg"}, "furosemide", MatchBasis.RXNORM_PRODUCT),
        ({"atc": "C03CA01"}, "furosemide", MatchBasis.ATC),
        ({"text": "Lasix 20 mg tablet"}, "furosemide", MatchBasis.NAME),
        ({"text": "Naproxen sodium 220 MG Oral Tablet"}, "naproxen", MatchBasis.NAME),
        ({"text": "indapamide 2.5 MG Oral Tablet"}, "indapamide", MatchBasis.NAME),
    ],
)
def test_recognised_by_ingredient_product_atc_or_name(
    request_kwargs: dict[str, Any], ingredient: str, basis: MatchBasis
) -> None:
    use = _one(make_med_request(**request_kwargs))
    assert use.match.ingredients == {ingredient}
    assert use.match.basis is basis


def test_an_unverified_atc_code_falls_back_to_its_verified_class_prefix() -> None:
    use = _one(make_med_request(atc="C03CA02"))  # bumetanide ATC is M; C03CA is V*
    assert use.match.basis is MatchBasis.ATC_CLASS
    assert use.match.classes == {"loop_diuretic"}


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"text": "Simvistatin 10 MG"},  # the misspelling defeats name matching (erratum 6)
        {"rxnorm": "5764"},  # indapamide ingredient code is M: never matched
        {"text": "Lithium orotate 5 MG capsule"},
        {"rxnorm": "6448", "display": "lithium orotate"},
        {"text": "Furosemidex 40 MG"},  # whole words only
    ],
)
def test_not_recognised(request_kwargs: dict[str, Any]) -> None:
    assert _uses(make_med_request(**request_kwargs)) == ()


def test_a_code_match_wins_over_a_contradicting_name() -> None:
    use = _one(make_med_request("4603", display="atorvastatin 10 MG"))
    assert use.match.ingredients == {"furosemide"}


def test_prednisolone_name_does_not_match_inside_methylprednisolone() -> None:
    use = _one(make_med_request(text="methylprednisolone 4 MG Oral Tablet"))
    assert use.match.ingredients == {"methylprednisolone"}


def test_a_combination_product_maps_to_each_ingredient() -> None:
    use = _one(make_med_request("310812"))  # hydrochlorothiazide / triamterene
    assert use.match.ingredients == {"hydrochlorothiazide", "triamterene"}


@pytest.mark.parametrize(
    ("status", "kept", "current"),
    [
        ("active", True, True),
        ("on-hold", True, True),
        ("stopped", True, False),
        ("completed", True, False),
        ("draft", False, False),
        ("cancelled", False, False),
        ("entered-in-error", False, False),
        ("unknown", False, False),
    ],
)
def test_request_statuses(status: str, kept: bool, current: bool) -> None:
    uses = _uses(make_med_request("2551", status=status))  # ciprofloxacin keeps past records
    assert bool(uses) is kept
    if kept:
        assert uses[0].current is current


def test_stopped_records_are_kept_only_for_classes_that_look_back() -> None:
    assert _uses(make_med_request("9071", status="stopped")) == ()  # quinine: current only
    assert len(_uses(make_med_request("316672", status="stopped"))) == 1  # statin: continuity
    assert len(_uses(make_med_request("7646", status="stopped"))) == 1  # PPI history counts


@pytest.mark.parametrize(
    ("status", "kept", "current"),
    [
        ("active", True, True),
        ("intended", True, True),
        ("completed", True, False),
        ("not-taken", False, False),
        ("entered-in-error", False, False),
    ],
)
def test_statement_statuses(status: str, kept: bool, current: bool) -> None:
    uses = _uses(make_med_statement("2551", status=status))
    assert bool(uses) is kept
    if kept:
        assert uses[0].current is current


@pytest.mark.parametrize(
    ("request_kwargs", "route"),
    [
        ({"rxnorm": "2551", "route": "Ophthalmic route"}, "ophthalmic"),
        ({"rxnorm": "2551", "route": "Oral"}, "oral"),
        ({"text": "ciprofloxacin 0.3 % Ophthalmic Solution"}, "ophthalmic"),
        ({"text": "tacrolimus 0.1 % Topical Ointment"}, "topical"),
        (
            {
                "rxnorm": "745679",
                "display": "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
            },
            "inhaled",
        ),
        ({"rxnorm": "1719286"}, "parenteral"),  # route from the knowledge's product display
        ({"rxnorm": "2551", "dosage_text": "1 tablet by mouth twice daily"}, "oral"),
        ({"rxnorm": "2551", "route": "Intra-articular"}, "intra_articular"),
        ({"rxnorm": "2551"}, None),
    ],
)
def test_route_from_dosage_then_form_then_product_name(
    request_kwargs: dict[str, Any], route: str | None
) -> None:
    assert _one(make_med_request(**request_kwargs)).route == route


def test_explicit_route_wins_over_the_product_name() -> None:
    use = _one(
        make_med_request(
            text="methylprednisolone acetate 40 MG/ML Injectable Suspension",
            route="Intra-articular route",
        )
    )
    assert use.route == "intra_articular"


def test_a_local_atc_code_marks_the_record_local() -> None:
    assert _one(make_med_request(text="ciprofloxacin drops", atc="S01AE03")).local_atc


@pytest.mark.parametrize(
    "reference", ["Medication/med1", "urn:uuid:med1", "https://fhir.example.org/Medication/med1"]
)
def test_referenced_medication_in_the_data_is_resolved(reference: str) -> None:
    medication = make_medication("4603", form="Oral tablet")
    use = _one(make_med_request(reference=reference), medication)
    assert use.match.ingredients == {"furosemide"}
    assert use.route == "oral"


def test_contained_medication_is_resolved() -> None:
    contained = make_medication(text="Tacrolimus 1 MG capsule", form="Capsule", resource_id="c1")
    use = _one(make_med_request(reference="#c1", contained=[contained]))
    assert use.match.ingredients == {"tacrolimus"}
    assert use.route == "oral"


def test_unresolvable_reference_is_ignored() -> None:
    assert _uses(make_med_request(reference="Medication/missing")) == ()
