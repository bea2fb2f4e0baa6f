"""Kubernetes quantities (``50Gi``, ``500m``, ``1.5e3``), as AME's resource fields use them.

The grammar is Kubernetes' own: a non-negative decimal number followed by a binary suffix
(Ki Mi Gi Ti Pi Ei, powers of 1024), a decimal suffix (m k M G T P E, powers of 1000;
``m`` is a thousandth) or a decimal exponent (``e3``, ``E-2``). Arithmetic is exact
(``Decimal``), and byte counts are rounded up to a whole byte, as Kubernetes does.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation, localcontext

_BINARY_SUFFIXES: dict[str, int] = {
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
    "Ei": 1024**6,
}
_DECIMAL_SUFFIXES: dict[str, Decimal] = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(1000),
    "M": Decimal(1000**2),
    "G": Decimal(1000**3),
    "T": Decimal(1000**4),
    "P": Decimal(1000**5),
    "E": Decimal(1000**6),
}
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<exponent>[eE][+-]?[0-9]+)|(?P<suffix>[A-Za-z]*))"
)
_MAX_TEXT_CHARS = 64
_MAX_EXPONENT = 30
# Nothing an ame.yaml declares is larger; the bound keeps huge exponents from costing time.
MAX_QUANTITY = Decimal(2) ** 63 - 1
EXAMPLES = "use e.g. 50Gi, 500M, 1.5Ti"
# Enough significant digits that no text of _MAX_TEXT_CHARS is ever rounded.
_PRECISION_DIGITS = 160

_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def parse_decimal_quantity(value: str | int | float) -> Decimal:
    """The exact value of a quantity; ``ValueError`` (one line, says why) when it is none."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity ({EXAMPLES})")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a quantity ({EXAMPLES})")
        number = Decimal(repr(value))
    elif isinstance(value, str):
        with localcontext() as context:
            context.prec = _PRECISION_DIGITS
            number = _parse_text(value)
    else:
        raise ValueError(f"{value!r} is not a quantity ({EXAMPLES})")
    if number < 0:
        raise ValueError(f"{value!r} is negative; a quantity cannot be below 0")
    if number > MAX_QUANTITY:
        raise ValueError(f"{value!r} is too large (at most {MAX_QUANTITY} bytes or units)")
    return number


def _parse_text(text: str) -> Decimal:
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"an empty value is not a quantity ({EXAMPLES})")
    if len(stripped) > _MAX_TEXT_CHARS:
        raise ValueError(f"{stripped[:20]!r}... is too long to be a quantity ({EXAMPLES})")
    match = _QUANTITY.fullmatch(stripped)
    if match is None:
        raise ValueError(f"{text!r} is not a quantity ({EXAMPLES})")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only digits
        raise ValueError(f"{text!r} is not a quantity ({EXAMPLES})") from error
    if match["sign"] == "-" and number != 0:
        raise ValueError(f"{text!r} is negative; a quantity cannot be below 0")
    exponent = match["exponent"]
    if exponent is not None:
        power = int(exponent[1:])
        if abs(power) > _MAX_EXPONENT:
            raise ValueError(f"{text!r}: the exponent is out of range (at most e{_MAX_EXPONENT})")
        return number.scaleb(power)
    suffix = match["suffix"]
    if suffix in _BINARY_SUFFIXES:
        return number * _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return number * _DECIMAL_SUFFIXES[suffix]
    known = " ".join(list(_BINARY_SUFFIXES) + [s for s in _DECIMAL_SUFFIXES if s])
    raise ValueError(f"{text!r} is not a quantity ({EXAMPLES}; suffixes: {known})")


def parse_quantity(value: str | int | float) -> int:
    """A quantity in bytes, rounded up to a whole byte (``"1.5Ki"`` -> 1536, ``"1m"`` -> 1)."""
    return math.ceil(parse_decimal_quantity(value))


def parse_cpu(value: str | int | float) -> float:
    """CPU cores as Kubernetes counts them: ``"2"`` -> 2.0, ``"500m"`` -> 0.5."""
    return float(parse_decimal_quantity(value))


def parse_count(value: str | int | float) -> int:
    """A whole number of devices (``nvidia.com/gpu``); fractions are refused, not rounded."""
    number = parse_decimal_quantity(value)
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def format_bytes(size_bytes: int) -> str:
    """A byte count for people: ``"512 B"``, ``"1.5 KiB"``, ``"50.0 GiB"``."""
    sign = "-" if size_bytes < 0 else ""
    remaining = float(abs(size_bytes))
    if remaining < 1024:
        return f"{sign}{abs(size_bytes)} B"
    for unit in _BYTE_UNITS:
        remaining /= 1024
        if round(remaining, 1) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{sign}{remaining:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
