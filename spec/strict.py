"""The base of every ame.yaml model: unknown keys are refused with a "did you mean" hint.

Pydantic's own ``extra="forbid"`` says only "Extra inputs are not permitted"; people need to
hear which keys exist and which one they probably meant. The check runs when a mapping comes
from a file (validation context ``{"yaml": True}``); Python callers get pydantic's check.

A mapping's unknown keys do not hide its other problems: the rest of it is validated too,
and every problem is raised together, so that a file's problems can all be shown at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, ClassVar, get_origin

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

UNKNOWN_KEY = "unknown_key"
SPEC_PROBLEM = "spec_problem"
YAML_CONTEXT: dict[str, Any] = {"yaml": True}


def yaml_context() -> dict[str, Any]:
    """The validation context of one file: YAML_CONTEXT and a place for models that the
    file's identical parts may share (see ``ProducerDoc``)."""
    return {**YAML_CONTEXT, "shared": {}}


def problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A validation error that carries our own message.

    With ``key`` the error is about that key of the mapping being validated, and is
    reported where the key is written rather than at the mapping.
    """
    context: dict[str, Any] = {"message": message}
    if key is not None:
        context["key"] = key
    return PydanticCustomError(
        UNKNOWN_KEY if key is not None else SPEC_PROBLEM, "{message}", context
    )


def close_key(key: str, known: list[str]) -> str | None:
    """The known key that ``key`` most likely misspells, if any."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_key_message(key: str, known: list[str], where: str) -> str:
    """``'pth' is not a valid key for a data set; did you mean 'path'? (known keys: ...)``"""
    close = close_key(key, known)
    hint = f"; did you mean '{close}'?" if close else ""
    return f"'{key}' is not a valid key for {where}{hint} (known keys: {', '.join(known)})"


def from_file(info: ValidationInfo) -> bool:
    """True when the data being validated was read from an ame.yaml."""
    context = info.context
    return isinstance(context, dict) and context.get("yaml") is True


# spec_keys() per model class, computed once: fields do not change after class creation,
# and the check runs for every mapping of every file loaded.
_KNOWN_KEYS: dict[type, list[str]] = {}
_LIST_KEYS: dict[type, frozenset[str]] = {}


class SpecModel(BaseModel):
    """Frozen, closed to unknown keys, camelCase in files and snake_case in Python.

    Validators are built at a model's first validation, not at import: a start that finds
    ame.yaml in the spec cache validates nothing, and builds no validator at all."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    # How the error messages name a mapping of this kind ("a data set", "an executor").
    spec_kind: ClassVar[str] = "this mapping"

    @classmethod
    def spec_keys(cls) -> list[str]:
        """The keys a file may use for this model, in declaration order."""
        keys: list[str] = []
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                keys.extend(str(choice) for choice in alias.choices)
            elif isinstance(alias, str):
                keys.append(alias)
            else:
                keys.append(field.alias or name)
        if "name" in keys:
            keys.remove("name")
            keys.insert(0, "name")
        return keys

    @classmethod
    def spec_list_keys(cls) -> frozenset[str]:
        """The keys whose value is a list."""
        keys: set[str] = set()
        for name, field in cls.model_fields.items():
            if get_origin(field.annotation) is tuple:
                alias = field.validation_alias
                if isinstance(alias, AliasChoices):
                    keys.update(str(choice) for choice in alias.choices)
                else:
                    keys.add(str(alias) if isinstance(alias, str) else field.alias or name)
        return frozenset(keys)

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_unknown_keys(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if not from_file(info):
            return handler(data)
        data = cls.spec_normalize(data)
        if not isinstance(data, dict):
            return handler(data)
        known = _KNOWN_KEYS.get(cls)
        if known is None:
            known = _KNOWN_KEYS[cls] = cls.spec_keys()
            _LIST_KEYS[cls] = cls.spec_list_keys()
        lists = _LIST_KEYS[cls]
        if any(data[key] is None for key in lists if key in data):
            # `models:` with nothing after it is an empty list, as AME (serde_yaml) reads it.
            data = {
                key: [] if value is None and key in lists else value for key, value in data.items()
            }
        unknown = [str(key) for key in data if key not in known and not cls.spec_accepts(str(key))]
        found = [(cls.spec_unknown_key(key, known), key) for key in unknown]
        found += cls.spec_findings(data)
        if not found:
            return handler(data)
        dropped = {key for _, key in found}
        errors = [_init_details(problem(message, key=key), data) for message, key in found]
        # A misspelt required key is one mistake, not two: its "missing" goes unsaid.
        meant_locs = {(cls.spec_suggestion(key, known),) for key in unknown}
        try:
            handler({key: value for key, value in data.items() if key not in dropped})
        except ValidationError as error:
            errors += [
                _again(details)
                for details in error.errors()
                if not (details["type"] == "missing" and details["loc"] in meant_locs)
            ]
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @classmethod
    def spec_accepts(cls, key: str) -> bool:
        """Whether a key that is no field is still valid (a model open to a family of keys
        says so here, and validates their values itself)."""
        return False

    @classmethod
    def spec_findings(cls, data: dict[str, Any]) -> Iterable[tuple[str, str]]:
        """(message, key) for keys that are wrong here although known; each such key is left
        out when the rest of the mapping is validated, so its other problems still show."""
        return ()

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        """Turn an accepted alternative form into the canonical one before keys are checked."""
        return data

    @classmethod
    def spec_unknown_key(cls, key: str, known: list[str]) -> str:
        """The message for an unknown key; a model can give a sharper hint for its own case."""
        return unknown_key_message(key, [k for k in known if k != "type"], cls.spec_kind)

    @classmethod
    def spec_suggestion(cls, key: str, known: list[str]) -> str | None:
        """The key an unknown key was most likely meant as (its message says so too)."""
        return close_key(key, [k for k in known if k != "type"])


def _init_details(error: PydanticCustomError, data: Any) -> InitErrorDetails:
    return InitErrorDetails(type=error, loc=(), input=data)


def _again(details: ErrorDetails) -> InitErrorDetails:
    """A problem pydantic found, in the form that raises it again (at the same place)."""
    context = details.get("ctx") or {}
    if details["type"] in (UNKNOWN_KEY, SPEC_PROBLEM):
        return InitErrorDetails(
            type=PydanticCustomError(details["type"], "{message}", context),
            loc=details["loc"],
            input=details["input"],
        )
    return InitErrorDetails(
        type=details["type"], loc=details["loc"], input=details["input"], ctx=context
    )
