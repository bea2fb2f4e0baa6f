"""Quantities exactly as Kubernetes (and so AME) define them, and sizes printed for people."""

from __future__ import annotations

import math

import pytest

from spec.quantity import format_bytes, parse_count, parse_cpu, parse_quantity

KI, MI, GI, TI, PI, EI = (1024**n for n in range(1, 7))


@pytest.mark.parametrize(
    ("text", "size_bytes"),
    [
        # plain numbers, from text and from YAML's ints and floats
        ("0", 0),
        ("1", 1),
        ("123456789", 123_456_789),
        (0, 0),
        (4096, 4096),
        (1.5, 2),
        (2.0, 2),
        ("+5", 5),
        # decimal suffixes: powers of 1000
        ("1k", 1000),
        ("1M", 1000**2),
        ("1G", 1000**3),
        ("30G", 30 * 1000**3),
        ("1T", 1000**4),
        ("1P", 1000**5),
        ("1E", 1000**6),
        # binary suffixes: powers of 1024
        ("1Ki", KI),
        ("1Mi", MI),
        ("1Gi", GI),
        ("50Gi", 50 * GI),
        ("1Ti", TI),
        ("1Pi", PI),
        ("1Ei", EI),
        # milli, rounded up to a whole byte
        ("1m", 1),
        ("1000m", 1),
        ("1001m", 2),
        ("500m", 1),
        # decimals
        ("2.5Gi", 5 * GI // 2),
        ("1.5Ti", 3 * TI // 2),
        ("0.5Ki", 512),
        (".5", 1),
        ("1.", 1),
        ("1.0001k", 1001),
        # exponents; "E" alone is exa, "E" with digits is an exponent
        ("129e6", 129_000_000),
        ("1E3", 1000),
        ("1e+3", 1000),
        ("12e-1", 2),
        ("1.5e3", 1500),
        # surrounding blanks are tolerated
        (" 2Gi ", 2 * GI),
    ],
)
def test_quantity_is_parsed_to_bytes_rounding_up(text: str | int | float, size_bytes: int) -> None:
    assert parse_quantity(text) == size_bytes


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("-1", "negative"),
        ("-1Gi", "negative"),
        (-5, "negative"),
        (-0.5, "negative"),
        ("", "empty"),
        ("   ", "empty"),
        ("5Zi", "is not a quantity"),
        ("5KB", "is not a quantity"),
        ("5K", "is not a quantity"),
        ("5gi", "is not a quantity"),
        ("1 Gi", "is not a quantity"),
        ("Gi", "is not a quantity"),
        ("1.2.3", "is not a quantity"),
        ("1e", "is not a quantity"),
        ("0x10", "is not a quantity"),
        ("nan", "is not a quantity"),
        ("inf", "is not a quantity"),
        (math.nan, "is not a quantity"),
        (math.inf, "is not a quantity"),
        (True, "is not a quantity"),
        ("1e400", "out of range"),
        ("9Ei", "too large"),
        ("1" * 80, "too long"),
    ],
)
def test_what_is_not_a_quantity_raises_a_one_line_value_error(
    value: str | int | float, says: str
) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        parse_quantity(value)
    assert "\n" not in str(raised.value)


def test_unknown_suffix_message_gives_examples_and_the_known_suffixes() -> None:
    with pytest.raises(ValueError) as raised:
        parse_quantity("5Zi")
    assert str(raised.value).startswith("'5Zi' is not a quantity (use e.g. 50Gi, 500M, 1.5Ti")
    assert "Ki Mi Gi Ti Pi Ei m k M G T P E" in str(raised.value)


def test_long_fractions_are_exact_before_rounding_up() -> None:
    # 0.000000000000000000000000001 Ei is far below one byte, yet more than zero.
    assert parse_quantity("0.000000000000000000000000001Ei") == 1
    assert parse_quantity("0.1234567890123456789012345678901Ki") == 127


@pytest.mark.parametrize(("text", "cores"), [("2", 2.0), ("500m", 0.5), ("1.5", 1.5), (4, 4.0)])
def test_cpu_is_counted_in_cores(text: str | int, cores: float) -> None:
    assert parse_cpu(text) == cores


def test_device_counts_must_be_whole() -> None:
    assert parse_count("2") == 2
    with pytest.raises(ValueError, match="whole number"):
        parse_count("0.5")


@pytest.mark.parametrize(
    ("size_bytes", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (MI - 1, "1.0 MiB"),
        (50 * GI, "50.0 GiB"),
        (3 * TI // 2, "1.5 TiB"),
        (EI, "1.0 EiB"),
        (-2048, "-2.0 KiB"),
    ],
)
def test_sizes_are_printed_for_people(size_bytes: int, text: str) -> None:
    assert format_bytes(size_bytes) == text
