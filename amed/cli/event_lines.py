"""How an event is shown: one JSON object for scripts, one line for people."""

from __future__ import annotations

import json
from typing import Any

from state.timefmt import format_time


def event_json(id_: int, event: Any) -> dict[str, Any]:
    return {"id": id_, **event.model_dump(mode="json")} | {"at": format_time(event.at)}


def event_line(item: dict[str, Any]) -> str:
    """Time, type, data set, then the payload's fields; a run's output tail is left to
    `ame ds logs` (it is many lines)."""
    skip = {"id", "at", "type", "project", "dataset", "output_tail"}
    fields = " ".join(
        f"{k}={_show_value(k, v)}" for k, v in item.items() if k not in skip and v is not None
    )
    return f"{item['at']} {item['type']:<16} {item.get('dataset') or '-'} {fields}".rstrip()


def _show_value(key: str, value: Any) -> str:
    if key.endswith("_hash") and isinstance(value, str):
        return value[:12]
    if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
        return json.dumps(value)
    return str(value)
