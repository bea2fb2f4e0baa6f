from __future__ import annotations

from amed.act.upkeep import StoreHealth
from amed.errors import ProjectClaimed, StoreError, StoreUnavailable


def test_a_refusal_is_an_answer_only_an_unavailable_store_is_unreachable() -> None:
    health = StoreHealth()
    health.report(StoreError("no such key"))
    health.report(ProjectClaimed("another state's"))
    assert health.error is None
    health.report(StoreUnavailable("s3: connection refused"))
    assert health.error == "s3: connection refused"


def test_the_first_outage_is_kept_until_the_store_answers_again() -> None:
    health = StoreHealth()
    health.report(StoreUnavailable("timed out"))
    health.report(StoreUnavailable("connection refused"))
    assert health.error == "timed out"
    health.report(None)
    assert health.error is None
