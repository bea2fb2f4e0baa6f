"""The ids of a consumer's requests and runs, shared by `ame task run` and the daemon.

A consumer's run is named after the request it answers, so `ame task run` can print the
run's id (and so its directory, `<state dir>/runs/<run id>/`) before the daemon has
started anything. A request is answered by one run at most: a run that dies with the
daemon is recorded as failed, never started again under the same request.
"""

from __future__ import annotations

import re
import secrets

_NOT_IN_A_RUN_ID = re.compile(r"[^A-Za-z0-9._@-]")


def manual_request_id(task: str) -> str:
    return f"{task}-{secrets.token_hex(4)}"


def consumer_run_id(request_id: str) -> str:
    """The request's id, as a directory name (task names and the ids amed makes are safe
    already; anything else is made so)."""
    return _NOT_IN_A_RUN_ID.sub("_", request_id).lstrip(".") or "run"
