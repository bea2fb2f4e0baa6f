"""The alert's fields, for channels that have fields for them.

A json:// channel gets the alert's key, notice, severity, labels, link and runbook as fields
of its payload: apprise's payload extras, the same mechanism as `:name=value` in its URL,
set for one call only; the URL's own extras stay and win.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amed.alerts.channels import Delivery


@contextmanager
def payload_fields(service: object, delivery: Delivery) -> Iterator[None]:
    """The alert's key, severity, labels and link as fields of a json:// payload, for this
    one call: apprise's payload extras (what `:name=value` in the URL sets). The URL's own
    extras stay and win."""
    extras = getattr(service, "payload_extras", None)
    if getattr(service, "protocol", None) != "json" or not isinstance(extras, dict):
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
