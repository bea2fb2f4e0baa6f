"""How long a failed data set waits before its next attempt."""

import pytest

from amed.plan.backoff import MAX_DELAY_SECONDS, retry_delay_seconds


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [
        pytest.param(1, 10, id="after 1 failure 10 s"),
        pytest.param(2, 20, id="after 2 failures 20 s"),
        pytest.param(3, 40, id="after 3 failures 40 s"),
        pytest.param(7, 640, id="after 7 failures 640 s"),
        pytest.param(8, 1280, id="after 8 failures 1280 s"),
    ],
)
def test_the_delay_doubles_with_each_failure(attempts: int, seconds: float) -> None:
    assert retry_delay_seconds(attempts, 0.0) == seconds


def test_the_delay_is_capped_at_an_hour_even_after_many_failures() -> None:
    assert retry_delay_seconds(10_000, 0.0) == MAX_DELAY_SECONDS


@pytest.mark.parametrize(
    ("jitter", "seconds"),
    [
        pytest.param(-1.0, 7.5, id="the lowest jitter takes a quarter off"),
        pytest.param(1.0, 12.5, id="the highest jitter adds a quarter"),
        pytest.param(-5.0, 7.5, id="a jitter below the range is held at a quarter off"),
        pytest.param(5.0, 12.5, id="a jitter above the range is held at a quarter more"),
    ],
)
def test_jitter_spreads_the_delay_by_at_most_a_quarter(jitter: float, seconds: float) -> None:
    assert retry_delay_seconds(1, jitter) == seconds
