"""The time a record stores and its hash covers: ``iso_time`` writes exactly what ``isoformat`` writes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from renew_fsm.model import iso_time

#: Zones with summer time, odd offsets (Kathmandu +05:45, Chatham +12:45/+13:45), offsets in seconds
#: before standard time (Amsterdam 1937 +00:19:32), the policy's own zone, and none at all.
_ZONES = st.sampled_from(
    [
        ZoneInfo("Asia/Shanghai"),
        ZoneInfo("Europe/Amsterdam"),
        ZoneInfo("America/New_York"),
        ZoneInfo("Asia/Kathmandu"),
        ZoneInfo("Pacific/Chatham"),
        dt.UTC,
        dt.timezone(dt.timedelta(hours=-3, minutes=-30)),
        dt.timezone(dt.timedelta(seconds=1, microseconds=5)),
    ]
)


@settings(max_examples=2000, deadline=None)
@given(st.datetimes(timezones=st.none() | _ZONES, allow_imaginary=True), st.booleans())
def test_iso_time_writes_what_isoformat_writes(at: dt.datetime, whole_seconds: bool) -> None:
    if whole_seconds:
        at = at.replace(microsecond=0)
    # Twice: the first may fill the remembered day and offset, the second reads them.
    assert iso_time(at) == at.isoformat()
    assert iso_time(at) == at.isoformat()


def test_the_fold_of_a_repeated_hour_keeps_its_own_offset() -> None:
    """01:30 on 2021-11-07 happens twice in New York: the same day and time of day, two texts."""
    first = dt.datetime(2021, 11, 7, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    second = first.replace(fold=1)
    assert (iso_time(first), iso_time(second)) == ("2021-11-07T01:30:00-04:00", "2021-11-07T01:30:00-05:00")


def test_a_subclass_formats_itself() -> None:
    class Stamped(dt.datetime):
        def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
            return "stamped"

    zone = ZoneInfo("Asia/Shanghai")
    iso_time(dt.datetime(2021, 5, 20, 8, 0, tzinfo=zone))  # its day and offset remembered
    assert iso_time(Stamped(2021, 5, 20, 9, 0, tzinfo=zone)) == "stamped"
