"""Who may write and delete under a project's prefix when states share a store.

Pure: no I/O. Two state dirs (two daemons, maybe on two hosts) may keep their data sets in
one store. Each has its own event log and numbers its versions from 1, so two states with
the same project name would write the same keys, and each one's sweep would take the
other's versions for debris. A project prefix therefore belongs to one state, named in a
small claim object written before anything else of that project:

    claims/<project>.json    {"state_id", "host", "state_dir", "claimed_at"}

It lives outside `datasets/`, so no sweep ever sees it. It is written create-only (atomic
on every store obstore reaches), so of two states racing for a project exactly one wins;
reading it decides ownership from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from amed.store.manifest import check_state_id, project_prefix

CLAIMS_PREFIX = "claims/"
CLAIM_FORMAT = 1


@dataclass(frozen=True)
class Claim:
    """`state_dir` and `host` are where a person finds the owning state; only `state_id`
    decides ownership (a state dir may be moved, a host renamed)."""

    project: str
    state_id: str
    host: str
    state_dir: str
    claimed_at: str

    def __post_init__(self) -> None:
        project_prefix(self.project)
        check_state_id(self.state_id)
        for name in ("host", "state_dir", "claimed_at"):
            value = getattr(self, name)
            if not isinstance(value, str) or "\n" in value or "\r" in value:
                raise ValueError(f"claim {name} must be a one-line string")

    def owner(self) -> str:
        """The owning state, as one-line errors name it."""
        return f"state {self.state_id} on host {self.host} (state dir {self.state_dir})"

    def to_json(self) -> bytes:
        document = {
            "format": CLAIM_FORMAT,
            "project": self.project,
            "state_id": self.state_id,
            "host": self.host,
            "state_dir": self.state_dir,
            "claimed_at": self.claimed_at,
        }
        return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Claim:
        """Parse and validate; anything that is not a well-formed claim is a ValueError."""
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"claim is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError("claim is not a JSON object")
        if document.get("format") != CLAIM_FORMAT:
            raise ValueError(f"claim format {document.get('format')!r} is not supported")
        return cls(**{name: _text(document, name) for name in _FIELDS})


_FIELDS = ("project", "state_id", "host", "state_dir", "claimed_at")


def claim_key(project: str) -> str:
    project_prefix(project)  # the same names as under datasets/
    return f"{CLAIMS_PREFIX}{project}.json"


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise ValueError(f"claim {name!r} must be a string")
    return value
