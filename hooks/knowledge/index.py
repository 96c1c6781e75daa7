"""Lookup tables built once from the knowledge: code -> ingredient, analyte or group; word patterns.

Only codes whose flag allows matching (V, V*) are indexed, so an unverified code can never
fire a rule. Text is compared after `normalise_text`; knowledge words ending in `*` are stems.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hooks.knowledge.schema import CodeEntry, ConditionsFile, DrugsFile, LabsFile, TriggersFile

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise_text(text: str) -> str:
    """Lower-case words separated by single spaces; punctuation is a separator."""
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def icd_key(code: str) -> str:
    """ICD-10-CM code as the knowledge stores it: upper case, no dot (reference §0.7)."""
    return code.replace(".", "").replace(" ", "").upper()


def has_prefix(code: str, prefixes: Iterable[str]) -> bool:
    """Whether a dot-stripped ICD-10-CM code starts with any prefix."""
    key = icd_key(code)
    return any(key.startswith(prefix) for prefix in prefixes)


def compile_terms(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any whole word or phrase; a trailing `*` makes the last word a stem."""
    parts = []
    for term in terms:
        stem = term.endswith("*")
        words = normalise_text(term.rstrip("*"))
        if not words:
            continue
        parts.append(r"\b" + re.escape(words) + (r"\w*" if stem else r"\b"))
    return re.compile("|".join(parts)) if parts else None


def matches(pattern: re.Pattern[str] | None, normalised: str) -> bool:
    """Whether normalised text contains a term of the pattern (False for no pattern)."""
    return pattern is not None and pattern.search(normalised) is not None


@dataclass(frozen=True, slots=True)
class NamePattern:
    """Ingredient and brand names of one ingredient, with words that veto the match."""

    ingredient: str
    pattern: re.Pattern[str]
    exclusions: re.Pattern[str] | None


@dataclass(frozen=True)
class DrugIndex:
    """Drug codes and names: RxNorm and ATC to ingredients, name patterns, route words."""

    rx_ingredient: Mapping[str, str]
    rx_product: Mapping[str, tuple[str, ...]]
    atc_ingredient: Mapping[str, str]
    atc_classes: tuple[tuple[str, str], ...]
    atc_local: tuple[str, ...]
    names: tuple[NamePattern, ...]
    any_name: re.Pattern[str] | None
    routes: tuple[tuple[str, re.Pattern[str]], ...]
    ingredient_classes: Mapping[str, frozenset[str]]
    keep_past: frozenset[str]  # classes whose stopped records still count (statin timing)


@dataclass(frozen=True)
class ConditionIndex:
    """Condition codes to condition groups (SNOMED CT exact, ICD-10-CM by prefix)."""

    group_snomed: Mapping[str, frozenset[str]]
    group_icd: tuple[tuple[str, str], ...]
    group_icd_excluded: tuple[tuple[str, str], ...]

    def groups_for_snomed(self, code: str) -> frozenset[str]:
        """Condition groups a SNOMED CT code belongs to."""
        return self.group_snomed.get(code, frozenset())

    def groups_for_icd(self, code: str) -> frozenset[str]:
        """Condition groups whose ICD-10-CM prefix the code starts with."""
        key = icd_key(code)
        excluded = {group for prefix, group in self.group_icd_excluded if key.startswith(prefix)}
        return frozenset(
            group
            for prefix, group in self.group_icd
            if key.startswith(prefix) and group not in excluded
        )


@dataclass(frozen=True)
class TriggerIndex:
    """The complaint, limb and knee codes and words."""

    complaint_snomed: frozenset[str]
    complaint_icd: tuple[str, ...]
    complaint_words: re.Pattern[str] | None
    complaint_exclusions: re.Pattern[str] | None
    limb_snomed: frozenset[str]
    limb_icd: tuple[str, ...]
    limb_words: re.Pattern[str] | None
    non_limb_words: re.Pattern[str] | None
    knee_snomed: frozenset[str]
    knee_icd: tuple[str, ...]
    knee_words: re.Pattern[str] | None


@dataclass(frozen=True)
class KnowledgeIndex:
    """Everything facts need to recognise codes and words quickly."""

    loinc_analyte: Mapping[str, str]
    drugs: DrugIndex
    conditions: ConditionIndex
    triggers: TriggerIndex


def _usable(entries: Iterable[CodeEntry]) -> list[str]:
    return [entry.code for entry in entries if entry.usable]


def _drug_index(drugs: DrugsFile) -> DrugIndex:
    rx: dict[str, str] = {}
    atc: dict[str, str] = {}
    names: list[NamePattern] = []
    for key, ingredient in drugs.ingredients.items():
        rx.update(dict.fromkeys(_usable(ingredient.rxnorm), key))
        atc.update(dict.fromkeys(_usable(ingredient.atc), key))
        pattern = compile_terms(ingredient.names)
        if pattern is not None:
            names.append(NamePattern(key, pattern, compile_terms(ingredient.name_exclusions)))
    classes = sorted(
        (
            (prefix, key)
            for key, cls in drugs.classes.items()
            for prefix in _usable(cls.atc_prefixes)
        ),
        key=lambda item: -len(item[0]),
    )
    routes = []
    for key, route in drugs.routes.items():
        pattern = compile_terms(route.words)
        if pattern is not None:
            routes.append((key, pattern))
    return DrugIndex(
        rx_ingredient=rx,
        rx_product={
            code: product.ingredients for code, product in drugs.products.items() if product.usable
        },
        atc_ingredient=atc,
        atc_classes=tuple(classes),
        atc_local=tuple(_usable(drugs.local_atc_prefixes)),
        names=tuple(names),
        # One search that rules out most drugs (the irrelevant ones) before the per-ingredient loop.
        any_name=re.compile("|".join(f"(?:{n.pattern.pattern})" for n in names)) if names else None,
        routes=tuple(routes),
        ingredient_classes={
            key: frozenset(ingredient.classes) for key, ingredient in drugs.ingredients.items()
        },
        keep_past=frozenset(key for key, cls in drugs.classes.items() if cls.keep_past),
    )


def _condition_index(conditions: ConditionsFile) -> ConditionIndex:
    snomed: dict[str, set[str]] = {}
    icd: list[tuple[str, str]] = []
    excluded: list[tuple[str, str]] = []
    for group_key, group in conditions.groups.items():
        for code in _usable(group.snomed):
            snomed.setdefault(code, set()).add(group_key)
        icd.extend((icd_key(code), group_key) for code in _usable(group.icd10cm_prefixes))
        excluded.extend((icd_key(code), group_key) for code in _usable(group.icd10cm_exclusions))
    return ConditionIndex(
        group_snomed={code: frozenset(groups) for code, groups in snomed.items()},
        group_icd=tuple(icd),
        group_icd_excluded=tuple(excluded),
    )


def _trigger_index(triggers: TriggersFile) -> TriggerIndex:
    complaint, knee = triggers.complaint, triggers.knee
    return TriggerIndex(
        complaint_snomed=frozenset(_usable(complaint.snomed)),
        complaint_icd=tuple(icd_key(code) for code in _usable(complaint.icd10cm_prefixes)),
        complaint_words=compile_terms(complaint.text_keywords),
        complaint_exclusions=compile_terms(complaint.text_exclusions),
        limb_snomed=frozenset(_usable(complaint.limb_snomed)),
        limb_icd=tuple(icd_key(code) for code in _usable(complaint.limb_icd10cm_prefixes)),
        limb_words=compile_terms(complaint.limb_keywords),
        non_limb_words=compile_terms(complaint.non_limb_sites),
        knee_snomed=frozenset(_usable(knee.snomed) + _usable(knee.body_site_snomed)),
        knee_icd=tuple(icd_key(code) for code in _usable(knee.icd10cm_prefixes)),
        knee_words=compile_terms(knee.text_keywords),
    )


def build_index(
    triggers: TriggersFile, drugs: DrugsFile, labs: LabsFile, conditions: ConditionsFile
) -> KnowledgeIndex:
    """Index the validated files; called once by the loader."""
    loinc = {code: key for key, analyte in labs.analytes.items() for code in _usable(analyte.loinc)}
    return KnowledgeIndex(
        loinc_analyte=loinc,
        drugs=_drug_index(drugs),
        conditions=_condition_index(conditions),
        triggers=_trigger_index(triggers),
    )
