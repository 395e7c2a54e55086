"""What a guard rule answers: passed, or refused with its rule id and a reason in two languages."""

from __future__ import annotations

import datetime as dt

import attrs


@attrs.frozen(slots=True)
class Verdict:
    ok: bool
    #: The SPEC §4 rule id reported on a refusal (``window_closed``, ``not_eligible`` …).
    rule: str
    zh: str = ""
    en: str = ""


PASS = Verdict(True, "")


def refuse(rule: str, zh: str, en: str) -> Verdict:
    return Verdict(False, rule, zh, en)


def anniversary(day: dt.date, years: int) -> dt.date:
    """``day`` plus whole years; 29 February becomes 1 March in a common year (周岁 law practice)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months later; the 31st of a short month becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")
