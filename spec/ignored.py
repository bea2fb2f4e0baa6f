"""The keys of AME's format that amed reads but does not act on, wherever they are written.

A file written for AME must load in amed, and its author must still learn which parts
amed leaves aside: each such key, when it says something (an empty list says nothing), is
one warning at the key. The parts are named by the models themselves (``spec_ignored``,
``spec_ignored_whole``), so this walk knows no key of its own; it does not look inside what
it reports, as one line per ignored part is enough.
"""

from __future__ import annotations

from typing import Any, get_args

from spec.locate import LocatedProblem
from spec.strict import SpecModel
from spec.yaml_nodes import NodePath


def ignored_keys(doc: SpecModel) -> list[LocatedProblem]:
    """One problem per ignored key, in the order the models hold them (not file order)."""
    found: list[LocatedProblem] = []
    _model(doc, (), found, set())
    return found


# Per model class: (field, its key in the file, why it is ignored or None), for the fields
# that are ignored or can hold a model; the others (names, paths, texts) need no look.
_Plan = list[tuple[str, str, str | None]]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[SpecModel]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        ignored: dict[str, str] = getattr(cls, "spec_ignored", {})
        plan = _PLANS[cls] = [
            (name, field.alias if isinstance(field.alias, str) else name, ignored.get(name))
            for name, field in cls.model_fields.items()
            if name in ignored or _holds_models(field.annotation)
        ]
    return plan


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SpecModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


def _model(model: SpecModel, at: NodePath, found: list[LocatedProblem], clean: set[int]) -> None:
    """``clean``: models (by id) that hold nothing ignored; a model shared by many data sets
    (see ProducerDoc) is looked at once."""
    if id(model) in clean:
        return
    before = len(found)
    given = model.model_fields_set
    for name, key, why in _plan(type(model)):
        if name not in given:
            continue
        value = getattr(model, name)
        whole = getattr(type(value), "spec_ignored_whole", None)
        if why is not None or whole is not None:
            if _says_something(value):
                found.append(LocatedProblem(at, why or str(whole), key=key))
            continue
        _value(value, (*at, key), found, clean)
    if len(found) == before:
        clean.add(id(model))


def _value(value: Any, at: NodePath, found: list[LocatedProblem], clean: set[int]) -> None:
    if isinstance(value, SpecModel):
        _model(value, at, found, clean)
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            _value(item, (*at, i), found, clean)


def _says_something(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, tuple | dict):
        return bool(value)
    if isinstance(value, SpecModel):
        return bool(value.model_fields_set) or bool(value.model_extra) or _tagged(value)
    return True


def _tagged(value: SpecModel) -> bool:
    """A tagged mapping (an executor) says what it is even with no field."""
    return "type" in type(value).model_fields
