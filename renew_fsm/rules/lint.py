"""``renew-fsm policy lint``: what a province should know about its policy before the cycle starts.

Errors make the cycle unworkable (windows in an impossible order); warnings
are consequences worth a decision (a long suspension that outlasts the
re-exam window).  Each finding names the field it is about.
"""

from __future__ import annotations

import datetime as dt
import re

import attrs

from .policy import Policy, Window
from .verdict import add_months

KNOWN_HUMANITIES_REASONS = ("age_60", "tcm_1998")
REASON_ID = re.compile(r"^[a-z0-9_]{1,64}$")


@attrs.frozen
class Finding:
    level: str  # "error" | "warning"
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.level.upper():7} {self.field}: {self.message}"


def _error(field: str, message: str) -> Finding:
    return Finding("error", field, message)


def _warning(field: str, message: str) -> Finding:
    return Finding("warning", field, message)


def _before(a: str, wa: Window, b: str, wb: Window) -> list[Finding]:
    """``a`` must end before ``b`` starts."""
    if wa.end >= wb.start:
        return [_error(f"windows.{b}", f"starts {wb.start}, before {a} ends {wa.end}; they must not overlap")]
    return []


def window_order(p: Policy) -> list[Finding]:
    w = p.windows
    out = _before("registration", w.registration, "first_round", w.first_round)
    out += _before("first_round", w.first_round, "makeup", w.makeup)
    out += _before("grading", w.grading, "reexam", w.reexam)
    if not w.registration.start <= w.deferral_deadline < w.first_round.start:
        out.append(
            _error(
                "windows.deferral_deadline",
                f"{w.deferral_deadline} must fall between the registration start {w.registration.start}"
                f" and the first round {w.first_round.start}",
            )
        )
    for test, grading in (("first_round", "grading"), ("makeup", "makeup_grading"), ("reexam", "reexam_grading")):
        tw, gw = getattr(w, test), getattr(w, grading)
        if gw.end < tw.start:
            out.append(_error(f"windows.{grading}", f"ends {gw.end}, before {test} starts {tw.start}"))
        elif gw.start <= tw.end and grading == "grading":
            out.append(_warning(f"windows.{grading}", f"grading opens {gw.start} while the {test} runs until {tw.end}"))
    if w.registration.start <= p.period.end:
        out.append(
            _warning(
                "windows.registration",
                f"registration opens {w.registration.start}, before the period ends {p.period.end}",
            )
        )
    return out


def reasons(p: Policy) -> list[Finding]:
    out = []
    for rid, reason in p.humanities_exemptions.items():
        if rid not in KNOWN_HUMANITIES_REASONS:
            out.append(
                _warning(
                    f"humanities_exemptions.{rid}",
                    f"not one of the national reasons ({', '.join(KNOWN_HUMANITIES_REASONS)})"
                    + ("; it has no automatic check" if reason.min_age is None else ""),
                )
            )
    for rid, reason in p.business_exemptions.reasons.items():
        if not REASON_ID.match(rid):
            out.append(_error(f"business_exemptions.reasons.{rid}", "a reason id is lower-case letters, digits and _"))
        if not reason.text.strip():
            out.append(_error(f"business_exemptions.reasons.{rid}.text", "is empty"))
    if p.business_exemptions.open and not p.business_exemptions.reasons:
        out.append(_warning("business_exemptions", "applications are open but the list of reasons is empty"))
    for cid in p.simple_conditions:
        if not REASON_ID.match(cid):
            out.append(_error(f"simple_conditions.{cid}", "a condition id is lower-case letters, digits and _"))
    return out


def _missing(ends: dt.date, closes: dt.date) -> int:
    """Whole days between the re-exam window's last day and the day a suspension ends."""
    return (ends - closes).days


def suspension_reach(p: Policy) -> list[Finding]:
    """A suspension starts at the earliest when grading closes; the re-exam needs it to be over.

    A doctor whose suspension outlasts the window is listed all the same and waits (``reexam_pending``)
    for a later window (art. 26: nobody loses the registration for a re-exam they could not sit); each
    warning says how many days the window is short of it.
    """
    w, s = p.windows, p.suspension
    out = []
    longest = add_months(w.grading.end, s.max_months)
    shortest = add_months(w.grading.end, s.min_months)
    if shortest > w.reexam.end:
        out.append(
            _warning(
                "suspension.min_months",
                f"even the shortest suspension ({s.min_months} months from {w.grading.end}) ends {shortest},"
                f" {_missing(shortest, w.reexam.end)} days after the re-exam window closes {w.reexam.end}:"
                " no doctor can be re-examined in this cycle; all stay listed (reexam_pending) for a later window",
            )
        )
    elif longest > w.reexam.end:
        out.append(
            _warning(
                "suspension.max_months",
                f"a {s.max_months}-month suspension started when grading closes ({w.grading.end}) ends {longest},"
                f" {_missing(longest, w.reexam.end)} days after the re-exam window closes {w.reexam.end}:"
                " those doctors cannot be re-examined in this cycle; they stay listed (reexam_pending) for a"
                " later window",
            )
        )
    makeup_fail = add_months(w.makeup_grading.start, s.min_months)
    if makeup_fail > w.reexam.end:
        out.append(
            _warning(
                "windows.makeup_grading",
                f"a doctor failing the make-up is graded {w.makeup_grading.start} at the earliest; even a"
                f" {s.min_months}-month suspension then ends {makeup_fail},"
                f" {_missing(makeup_fail, w.reexam.end)} days after the re-exam window closes"
                f" {w.reexam.end}: they cannot be re-examined in this cycle; they stay listed (reexam_pending)"
                " for a later window",
            )
        )
    return out


def reexam_attempts(p: Policy) -> list[Finding]:
    """The re-exam re-assesses what failed with one attempt of each failed test (SPEC §2): a province
    asking for more should know it is not applied."""
    if p.reexam.attempts > 1:
        return [
            _warning(
                "reexam.attempts",
                f"{p.reexam.attempts} attempts: the re-exam sits each failed test once (what failed is"
                " re-assessed, SPEC §2); only 1 is applied",
            )
        ]
    return []


CHECKS = (window_order, reasons, suspension_reach, reexam_attempts)


def lint(policy: Policy) -> list[Finding]:
    return [finding for check in CHECKS for finding in check(policy)]
