"""Resident id-card numbers (GB 11643-1999): 18 characters, a birth date, a check digit."""

from __future__ import annotations

import datetime as dt
import operator

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


#: Every digit's byte is its value + 48 (b"0"): one subtraction for all 17 instead of an int() per digit.
_ASCII_ZERO = ord("0") * sum(WEIGHTS)


def check_digit(first17: str) -> str:
    """The 18th character for 17 digits (twice per doctor a simulation adds: made, then checked)."""
    if not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"an id-card body is 17 digits, not {first17!r}")
    return CHECK[(sum(map(operator.mul, first17.encode(), WEIGHTS)) - _ASCII_ZERO) % 11]


def problem(number: object, birth_date: dt.date | None = None) -> str | None:
    """Why ``number`` is not a valid id-card number (for ``birth_date``), or ``None``."""
    if not isinstance(number, str) or len(number) != 18:
        return "an id-card number has 18 characters"
    body, last = number[:17], number[17].upper()
    if not body.isascii() or not body.isdigit() or not (last.isdigit() or last == "X"):
        return "an id-card number is 17 digits and a digit or X"
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "the id-card number does not hold a valid birth date"
    if check_digit(body) != last:
        return "the id-card number's check digit is wrong (GB 11643)"
    if birth_date is not None and born != birth_date:
        return f"the id-card number's birth date {born} does not match birth_date {birth_date}"
    return None


def make(region: str, born: dt.date, serial: int) -> str:
    """A valid number for tests and simulations: 6-digit region code, birth date, 3-digit serial."""
    # Fields, not strftime: a fifth of the time, and %Y's padding below year 1000 varies by platform.
    body = f"{region[:6]:0>6}{born.year:04d}{born.month:02d}{born.day:02d}{serial % 1000:03d}"
    return body + check_digit(body)


def mask(number: str) -> str:
    """What a printed notice shows: the first 6 and last 4 characters."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)
