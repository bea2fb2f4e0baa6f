"""The base of every ame.yaml model: unknown keys are refused with a "did you mean" hint.

Pydantic's own ``extra="forbid"`` says only "Extra inputs are not permitted"; people need to
hear which keys exist and which one they probably meant. The check runs when a mapping comes
from a file (validation context ``{"yaml": True}``); Python callers get pydantic's check.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

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


def unknown_key_message(key: str, known: list[str], where: str) -> str:
    """``'pth' is not a valid key for a data set; did you mean 'path'? (known keys: ...)``"""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"'{key}' is not a valid key for {where}{hint} (known keys: {', '.join(known)})"


def from_file(info: ValidationInfo) -> bool:
    """True when the data being validated was read from an ame.yaml."""
    context = info.context
    return isinstance(context, dict) and context.get("yaml") is True


# spec_keys() per model class, computed once: fields do not change after class creation,
# and the check runs for every mapping of every file loaded.
_KNOWN_KEYS: dict[type, list[str]] = {}


class SpecModel(BaseModel):
    """Frozen, closed to unknown keys, camelCase in files and snake_case in Python."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

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

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if not from_file(info):
            return data
        data = cls.spec_normalize(data)
        if not isinstance(data, dict):
            return data
        known = _KNOWN_KEYS.get(cls)
        if known is None:
            known = _KNOWN_KEYS[cls] = cls.spec_keys()
        for key in data:
            if key not in known:
                raise problem(cls.spec_unknown_key(str(key), known), key=str(key))
        return data

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        """Turn an accepted alternative form into the canonical one before keys are checked."""
        return data

    @classmethod
    def spec_unknown_key(cls, key: str, known: list[str]) -> str:
        """The message for an unknown key; a model can give a sharper hint for its own case."""
        return unknown_key_message(key, [k for k in known if k != "type"], cls.spec_kind)
