"""What an alert says, written when it is sent, from the rows as they are then.

The planner raises an alert once and repeats it hours later; delivery may wait for a slow
channel or be retried for an hour, so the words are written at send time (amed.alerts.firing,
amed.alerts.resolved) from the current rows (amed.alerts.seen). This module puts them
together: the title headed by the host, the text, and a footer.

Every message names the host, the project, the data set or task, the severity and the key,
as text (for every channel) and as labels (for channels with fields: apprise's json://).
The text is plain: task output goes out as it was printed, and channels that render HTML or
Markdown are handed plain text, which apprise escapes for them.

Pure: no apprise, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from amed.alerts.firing import firing
from amed.alerts.resolved import resolved
from amed.alerts.seen import Seen


@dataclass(frozen=True)
class Message:
    key: str
    notice: str
    severity: str
    title: str
    body: str
    labels: Mapping[str, str] = field(default_factory=dict)
    link: str | None = None
    runbook: str | None = None


def render(notice: str, seen: Seen) -> Message:
    """The alert (`notice` "alert") or its resolved notice ("resolved")."""
    alert = seen.alert
    link = _link(seen)
    labels = _labels(seen)
    if notice == "resolved":
        title, text = resolved(seen)
        title = f"RESOLVED: {_headed(title, seen.host)}"
    else:
        title, text = firing(seen)
        title = _headed(title, seen.host)
    footer = [f"{name}: {value}" for name, value in labels.items() if name != "notice"]
    if link:
        footer.append(f"dashboard: {link}")
    runbook = runbook_for(alert.key, seen.runbooks)
    if runbook:
        footer.append(f"runbook: {runbook}")
    body = f"{text.rstrip()}\n\n--\n" + "\n".join(footer)
    return Message(alert.key, notice, alert.severity, title, body, labels, link, runbook)


def runbook_for(key: str, runbooks: tuple[tuple[str, str], ...]) -> str | None:
    """The URL of the longest prefix of `key` that has one (`failed:demo/` before `failed`),
    so that a team can point one data set's alerts at its own page and the rest at a
    general one."""
    matching = [(len(prefix), url) for prefix, url in runbooks if key.startswith(prefix)]
    return max(matching)[1] if matching else None


def _labels(seen: Seen) -> dict[str, str]:
    subject = seen.subject
    labels = {"host": seen.host}
    if subject.project:
        labels["project"] = subject.project
    if subject.dataset:
        labels["data set"] = subject.dataset
    if subject.task:
        labels["task"] = subject.task
    labels["severity"] = seen.alert.severity
    labels["key"] = seen.alert.key
    return labels


def _link(seen: Seen) -> str | None:
    base = seen.dashboard_url
    if not base:
        return None
    subject = seen.subject
    if subject.project and subject.dataset:
        return (
            f"{base}/datasets/{quote(subject.project, safe='')}/{quote(subject.dataset, safe='')}"
        )
    return f"{base}/"


def _headed(title: str, host: str) -> str:
    return f"amed@{host}: {title}"
