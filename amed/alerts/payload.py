"""The alert's fields, for channels that have fields for them, set for one call only.

A json:// channel gets the alert's key, notice, severity, labels, link and runbook as fields
of its payload: apprise's payload extras, the same mechanism as `:name=value` in its URL;
the URL's own extras stay and win.

A slack:// channel gets a Block Kit attachment with the labels as fields (`host: gpu-3`),
the text as plain text (task output is never read as markup) and the dashboard and runbook
links: through apprise's own Slack template mechanism (what `?template=` in the URL sets),
with a template written for the one call and the values handed over as template tokens,
which apprise escapes for JSON. A URL that names its own template keeps it; an apprise
without templates for Slack sends its plain attachment, as before.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amed.alerts.channels import Delivery


SLACK_TEXT_CHARS = 2900
"""Slack refuses a section's text beyond 3,000 characters; the rest is cut (with `…`)."""
SLACK_TITLE_CHARS = 150
"""Slack's limit for a header's text."""
_FOOTER = "\n\n--\n"  # where amed.alerts.message puts the labels under the text


@contextmanager
def payload_fields(service: object, delivery: Delivery) -> Iterator[None]:
    """The alert's fields, in the form `service` takes them, for this one call."""
    protocols = {getattr(service, "protocol", None), getattr(service, "secure_protocol", None)}
    if "json" in protocols:
        with _json_fields(service, delivery):
            yield
    elif "slack" in protocols:
        with _slack_fields(service, delivery):
            yield
    else:
        yield


@contextmanager
def _json_fields(service: object, delivery: Delivery) -> Iterator[None]:
    extras = getattr(service, "payload_extras", None)
    if not isinstance(extras, dict):
        yield
        return
    saved = dict(extras)
    ours: dict[str, object] = {
        "key": delivery.key,
        "notice": delivery.notice,
        "severity": delivery.severity,
        "labels": dict(delivery.labels),
    }
    if delivery.link:
        ours["link"] = delivery.link
    if delivery.runbook:
        ours["runbook"] = delivery.runbook
    extras.update({name: value for name, value in ours.items() if name not in saved})
    try:
        yield
    finally:
        extras.clear()
        extras.update(saved)


@contextmanager
def _slack_fields(service: Any, delivery: Delivery) -> Iterator[None]:
    template = getattr(service, "template", None)
    tokens = getattr(service, "tokens", None)
    if template is None or len(template) or not isinstance(tokens, dict):
        yield  # its own template, or an apprise without Slack templates
        return
    import apprise

    ours, document = slack_template(delivery)
    handle, path = tempfile.mkstemp(prefix="amed-slack-", suffix=".json")
    saved = (template, dict(tokens), service.use_blocks)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out)
        attachment = apprise.AppriseAttachment(asset=service.asset)
        attachment.add(path)
        service.template = attachment
        service.use_blocks = True
        tokens.update({name: value for name, value in ours.items() if name not in saved[1]})
        yield
    finally:
        service.template, service.use_blocks = saved[0], saved[2]
        tokens.clear()
        tokens.update(saved[1])
        Path(path).unlink()


def slack_template(delivery: Delivery) -> tuple[dict[str, str], dict[str, Any]]:
    """A Block Kit attachment with a `{{token}}` for every value, and the tokens' values:
    the values never pass through the template's text, so nothing in them (a `}}`, a
    quote, task output) can change its structure, and none of them is written to disk."""
    text = delivery.body.rpartition(_FOOTER)[0] or delivery.body
    if len(text) > SLACK_TEXT_CHARS:
        text = text[: SLACK_TEXT_CHARS - 1] + "…"
    title = delivery.title
    if len(title) > SLACK_TITLE_CHARS:
        title = title[: SLACK_TITLE_CHARS - 1] + "…"
    tokens = {"amed_title": title, "amed_text": text.strip() or delivery.title}
    fields = []
    for n, (name, value) in enumerate(delivery.labels.items()):
        tokens[f"amed_field_{n}"] = f"{name}: {value}"
        fields.append({"type": "plain_text", "text": f"{{{{amed_field_{n}}}}}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "{{amed_title}}"}},
        {"type": "section", "text": {"type": "plain_text", "text": "{{amed_text}}"}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    links = [
        f"<{_slack_escape(url)}|{name}>"
        for name, url in (("dashboard", delivery.link), ("runbook", delivery.runbook))
        if url
    ]
    if links:
        tokens["amed_links"] = " · ".join(links)
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "{{amed_links}}"}]}
        )
    return tokens, {"color": "{{app_color}}", "blocks": blocks}


def _slack_escape(text: str) -> str:
    """The three characters Slack's markup reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
