"""The executor kinds ame.yaml may name, each written as the tag `!<kind>`.

The one list the loader, the error messages and the models' union are checked against
(each kind also has a model in spec.model). amed runs a kind through a module of its own,
registered in amed.engine.executors.KINDS; spec knows nothing of amed, so a test checks
that the two lists agree. Kept free of pydantic and PyYAML so that any reader of the file
can import it cheaply.
"""

from __future__ import annotations

EXECUTOR_TYPES: tuple[str, ...] = ("custom", "pip", "poetry", "pipEnv")

EXECUTOR_TAGS: dict[str, str] = {f"!{kind}": kind for kind in EXECUTOR_TYPES}
"""`!pipEnv` → `pipEnv`: the tag in the file and the `type` of its plain-data form."""


AME_ONLY_TAGS: dict[str, str] = {"!mlflow": "mlflow"}
"""Executors AME defines that amed cannot run: read (so the file stays AME's), then ignored."""


def tag_list() -> str:
    """`!custom, !pip, !poetry or !pipEnv`, for messages that say what is allowed."""
    *rest, last = EXECUTOR_TAGS
    return f"{', '.join(rest)} or {last}" if rest else last
