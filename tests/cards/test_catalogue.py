"""The shipped card catalogue: every template fits the summary limit with realistic values."""

from __future__ import annotations

import string

import pytest

from cards.catalogue import catalogue_from, load_catalogue
from cards.wording import SUMMARY_LIMIT, render_summary
from hooks.findings import Family, Finding, Severity
from tests.builders import knowledge

DRUGS3: tuple[str, ...] = (
    "hydrochlorothiazide",
    "furosemide",
    "chlorthalidone",
)  # "X and 2 others"
LONG_DX = "Acute embolism and thrombosis of deep veins of left lower extremity"
LAB = {"value": "135.25", "unit": "mmol/L", "date": "2021-03-28"}
# Per template, the longest values it can realistically receive.
STATINS = ("rosuvastatin", "atorvastatin", "pitavastatin")
CK = {"value": "12500", "unit": "U/L", "date": "2021-03-28", "n": "41.7"}
MG = {"value": "0.55", "unit": "mmol/L", "date": "2021-03-28"}
WORST: dict[str, tuple[dict[str, str], dict[str, tuple[str, ...]]]] = {
    "A1": ({}, {"drug": DRUGS3, "analyte": ("K", "Mg")}),
    "A3": ({}, {"drug": STATINS}),
    "A3-ck": (CK, {"drug": STATINS}),
    "A3-normal": ({**CK, "value": "190"}, {"drug": STATINS}),
    "A3-weak": ({}, {"drug": STATINS}),
    "A13-dose": (
        {"n": "80", "value": "10"},
        {"drug": ("clarithromycin", "diltiazem", "verapamil")},
    ),
    "A14": ({"n": "38"}, {"drug": ("indomethacin", "ibuprofen", "naproxen")}),
    "A4": ({}, {"drug": ("fluticasone/salmeterol", "formoterol", "salmeterol")}),
    "A4s": ({}, {"drug": ("levalbuterol", "terbutaline", "albuterol")}),
    "B3": ({**LAB, "unit": "mg/dL"}, {"analyte": ("Albumin-corrected calcium",)}),
    "B8": ({**LAB, "unit": "mL/min/{1.73_m2}"}, {}),
    "ungraded": (LAB, {"analyte": ("25-OH vitamin D",)}),
    "C7": ({"dx": LONG_DX, "dx_short": "thyroid disorder"}, {"analyte": ("TSH", "Ca")}),
    "C4-treated": (
        {"dx": LONG_DX, "dx_short": "spastic neurological condition"},
        {"drug": ("tizanidine", "baclofen")},
    ),
}
for _key in ("A1b", "A1b-critical", "A1b-critical-caution", "A1b-caution", "A1b-first"):
    WORST[_key] = (
        {
            **MG,
            "reason": "spironolactone, lisinopril: high risk, "
            "so a result from the last 7 days is needed",
            "reason_short": "see detail",
        },
        {"drug": DRUGS3, "analyte": ("magnesium",)},
    )


def _worst(template: str, text: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    if template in WORST:
        return WORST[template]
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    values = {k: v for k, v in LAB.items() if k in names}
    if "n" in names:
        values["n"] = "41.7"
    if "dx" in names:
        groups = knowledge().conditions.groups.values()
        values.update(dx=LONG_DX, dx_short=max((g.display for g in groups), key=len))
    items: dict[str, tuple[str, ...]] = {}
    if "drug" in names:
        items["drug"] = ("dextroamphetamine", "methylphenidate", "modafinil")
    return values, items


def test_load_catalogue_reads_the_shipped_knowledge() -> None:
    catalogue = load_catalogue()
    assert catalogue.knowledge_version == knowledge().version
    assert catalogue.cards.extension_key == "org.kneespasmcds.findings"


def test_each_family_has_a_source_and_a_topic_in_the_project_code_system() -> None:
    catalogue = catalogue_from(knowledge())
    families = catalogue.cards.families
    assert {f: (s.topic.code, bool(s.label)) for f, s in families.items()} == {
        Family.MEDICATIONS: ("medications", True),
        Family.LABS: ("labs", True),
        Family.NEUROLOGY: ("neurology", True),
    }
    assert catalogue.cards.topic_system.startswith("urn:knee-spasm-cds:")


def test_the_five_override_reasons() -> None:
    codes = [r.code for r in catalogue_from(knowledge()).cards.override_reasons.reasons]
    assert codes == [
        "already-addressed",
        "labs-drawn-elsewhere",
        "benefit-outweighs-risk",
        "patient-declined",
        "not-applicable",
    ]


@pytest.mark.parametrize("template", sorted(knowledge().cards.templates))
def test_every_template_fits_under_140_characters_without_cutting(template: str) -> None:
    catalogue = catalogue_from(knowledge())
    values, items = _worst(template, catalogue.cards.templates[template].summary)
    finding = Finding("X", "1", Family.LABS, Severity.INFO, template, values=values, items=items)
    summary = render_summary(finding, catalogue)
    assert len(summary) <= SUMMARY_LIMIT
    assert not summary.endswith("…")
    assert "{" not in summary.replace("{1.73_m2}", "")


def test_end_to_end_diuretic_with_low_potassium_is_one_warning_card_naming_both() -> None:
    from cards.builders import build_cards
    from tests.builders import assessment_for, iso, make_med_request, make_observation

    assessment = assessment_for(
        make_med_request("316049", "Hydrochlorothiazide 25 MG", authored=iso(400)),
        make_observation("6298-4", 3.2, "mmol/L", when="2021-03-27T08:00:00+00:00"),
        make_observation("19123-9", 2.0, "mg/dL", when="2021-03-27T08:00:00+00:00"),
    )
    [issued] = build_cards(assessment, catalogue_from(knowledge()), patient_id="p1")
    card = issued.card
    assert card.indicator == "warning"
    assert card.summary == (
        "On hydrochlorothiazide, potassium 3.2 mmol/L (2021-03-27) is low, a possible contributor "
        "to cramps. Replete; review the drug."
    )
    assert card.source.label == "Cramp CDS - medication review"
    assert [s.label for s in card.suggestions or []] == ["Order basic metabolic panel"]
