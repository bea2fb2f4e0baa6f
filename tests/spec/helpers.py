"""Small helpers shared by the spec tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from spec import Project, SpecError, load_text

FIXTURES = Path(__file__).parent / "fixtures"
GOOD_PROJECT = FIXTURES / "good"
BROKEN_FIXTURES = FIXTURES / "broken"


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def load(text: str) -> Project:
    return load_text(yaml_text(text))


def spec_error(text: str) -> SpecError:
    """The SpecError loading ``text`` raises (the test fails if it loads)."""
    with pytest.raises(SpecError) as raised:
        load_text(yaml_text(text))
    return raised.value
