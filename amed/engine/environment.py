"""The environment a task's processes get: a clean one, never the daemon's.

The daemon's environment may hold store credentials and the systemd sockets it speaks
through; a task must see neither. It gets an allow-list of the daemon's variables, then
its own env and secrets, then what its executor needs, and `AME_RUN_ID`, which marks
every process of the run (amed.engine.proctree finds them by it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from amed.engine import proctree
from amed.engine.plans import Plan

PASS_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "TZ",
    "TMPDIR",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
)
"""What a task takes from the daemon's environment: where programs, home and temporary
files are, the locale, and how to reach package indexes and proxies. Nothing else: the
daemon's environment may hold store credentials, and a task must not be able to read
them. More names (or `PREFIX_*` patterns) come from `tasks.pass_env`."""

_DAEMON_ONLY_NAMES = frozenset({"NOTIFY_SOCKET"})
_DAEMON_ONLY_PREFIXES = ("WATCHDOG_", "LISTEN_")
"""Never passed, even when asked for: with them a task could speak for the daemon."""


def task_environment(
    base: Mapping[str, str],
    task_env: Mapping[str, str],
    *,
    run_id: str,
    plan: Plan,
    pass_env: Sequence[str] = (),
) -> dict[str, str]:
    """The environment a task's processes get.

    The names of PASS_ENV and `pass_env` from the daemon's environment come first, with
    PYTHONUNBUFFERED=1; then the task's env (and secrets), the executor's, the PATH prefix
    and `AME_RUN_ID`.
    """
    env = passed_env(base, pass_env)
    env.setdefault("PATH", os.defpath)
    # Python writes its output as it goes, so a traceback on stderr lands after the lines
    # printed before it in output.log (and a follower sees them live); a task's env may
    # set it to "" to buffer again.
    env["PYTHONUNBUFFERED"] = "1"
    for name in plan.env_remove:
        env.pop(name, None)
    env.update(task_env)
    env.update(plan.env)
    if plan.path_prepend:
        rest = [env["PATH"]] if env.get("PATH") else []
        env["PATH"] = os.pathsep.join([*plan.path_prepend, *rest])
    env[proctree.RUN_TAG] = run_id
    return env


def passed_env(base: Mapping[str, str], extra: Sequence[str] = ()) -> dict[str, str]:
    """The daemon's variables a task may see: PASS_ENV and `extra`, exact names or
    `PREFIX_*` patterns."""
    names = {n for n in (*PASS_ENV, *extra) if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in (*PASS_ENV, *extra) if n.endswith("*") and len(n) > 1)
    return {
        name: value
        for name, value in base.items()
        if (name in names or (prefixes and name.startswith(prefixes)))
        and name not in _DAEMON_ONLY_NAMES
        and not name.startswith(_DAEMON_ONLY_PREFIXES)
    }
