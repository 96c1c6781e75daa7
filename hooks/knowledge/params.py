"""Typed rule parameters: each rule implementation declares a pydantic model of its `parameters`.

A parameter that names knowledge (an analyte, a drug class, an ingredient, a condition group, an
order) is typed as such (`AnalyteKey`, `DrugClassKey`, `IngredientKey`, `GroupKey`, `OrderKey`),
so the registry can check at start-up that the key exists, that the rule declares it among its
inputs or orders (the prefetch asks for what the rule reads), and that an analyte has the
thresholds the rule grades by. Rule code then reads every knowledge key from its own catalogue
entry, never from a string literal that no load-time check can see.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic_core import ErrorDetails

from hooks.knowledge.schema import KnowledgeError, RuleDef

RefKind = Literal["analyte", "drug_class", "ingredient", "group", "order"]


@dataclass(frozen=True, slots=True)
class Ref:
    """Marks a parameter as naming knowledge of one kind.

    `thresholds`: labs.yaml threshold names the analyte must define (e.g. "uln" for a rule that
    grades by multiples of the upper limit).
    """

    kind: RefKind
    thresholds: tuple[str, ...] = ()


AnalyteKey = Annotated[str, Strict(), Ref("analyte")]
DrugClassKey = Annotated[str, Strict(), Ref("drug_class")]
IngredientKey = Annotated[str, Strict(), Ref("ingredient")]
GroupKey = Annotated[str, Strict(), Ref("group")]
OrderKey = Annotated[str, Strict(), Ref("order")]
# Positive numbers: a window in days, a whole number (years, weeks, a count, a dose in mg), and
# any amount. Strict: a quoted "30" or a `true` is a mistake in the file, not a number.
Days = Annotated[int, Strict(), Field(gt=0)]
Whole = Annotated[int, Strict(), Field(gt=0)]
Amount = Annotated[float, Strict(), Field(gt=0)]


class RuleParams(BaseModel):
    """Base of every rule's parameter model: frozen, and an unknown parameter is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NoParams(RuleParams):
    """A rule without parameters."""


P = TypeVar("P", bound=RuleParams)


@dataclass(frozen=True, slots=True)
class Reference:
    """One knowledge key a rule's parameters name, and where (`uln_grading.analyte`)."""

    kind: RefKind
    key: str
    field: str
    thresholds: tuple[str, ...] = ()


def parse_params(rule: RuleDef, model: type[P]) -> P:
    """The rule's parameters as `model`; a KnowledgeError names the rule and the field."""
    try:
        return model.model_validate(rule.parameters)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        where = f"rules.yaml: rules[{rule.id}].parameters" + (f".{field}" if field else "")
        raise KnowledgeError(f"{where}: {_message(first)}") from None


def _message(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "required"
    if error["type"] == "extra_forbidden":
        return "not a parameter of this rule"
    return f"{error['msg']} (got {error['input']!r})"


def references(params: RuleParams) -> Iterator[Reference]:
    """Every knowledge key the parameters name, nested models and collections included."""
    for name, info in type(params).model_fields.items():
        yield from _walk(info.annotation, info.metadata, getattr(params, name), name)


def _walk(annotation: Any, metadata: list[Any], value: Any, field: str) -> Iterator[Reference]:
    marks = [m for m in metadata if isinstance(m, Ref)]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        marks += [m for m in args[1:] if isinstance(m, Ref)]
        annotation = args[0]
        origin, args = get_origin(annotation), get_args(annotation)
    if marks and isinstance(value, str):
        yield Reference(marks[0].kind, value, field, marks[0].thresholds)
    elif isinstance(value, RuleParams):
        for name, info in type(value).model_fields.items():
            yield from _walk(
                info.annotation, info.metadata, getattr(value, name), f"{field}.{name}"
            )
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from _walk(arg, [], value, field)
    elif origin is tuple and isinstance(value, tuple):
        variable = len(args) == 2 and args[1] is Ellipsis
        for number, item in enumerate(value):
            yield from _walk(args[0] if variable else args[number], [], item, f"{field}.{number}")
    elif origin is dict and isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(args[0], [], key, field)
            yield from _walk(args[1], [], item, f"{field}.{key}")


__all__ = [
    "Amount",
    "AnalyteKey",
    "Days",
    "DrugClassKey",
    "GroupKey",
    "IngredientKey",
    "NoParams",
    "OrderKey",
    "Ref",
    "Reference",
    "RuleParams",
    "Whole",
    "parse_params",
    "references",
]
