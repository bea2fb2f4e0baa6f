import pytest

from amed.plan.backoff import MAX_DELAY_SECONDS, retry_delay_seconds


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 10), (2, 20), (3, 40), (7, 640), (8, 1280)])
def test_the_delay_doubles_with_each_failure(attempts: int, seconds: float) -> None:
    assert retry_delay_seconds(attempts, 0.0) == seconds


def test_the_delay_is_capped_at_an_hour_even_after_many_failures() -> None:
    assert retry_delay_seconds(10_000, 0.0) == MAX_DELAY_SECONDS


@pytest.mark.parametrize(
    ("jitter", "seconds"), [(-1.0, 7.5), (1.0, 12.5), (-5.0, 7.5), (5.0, 12.5)]
)
def test_jitter_spreads_the_delay_by_at_most_a_quarter(jitter: float, seconds: float) -> None:
    assert retry_delay_seconds(1, jitter) == seconds
