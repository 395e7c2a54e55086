"""``renew-fsm policy lint``: what a province should know about its policy before the cycle starts.

Errors make the cycle unworkable (windows in an impossible order); warnings
are consequences worth a decision (a long suspension that outlasts the
re-exam window).  Each finding names the field it is about, and says it in Chinese first (the
province's policy staff read it) with the English beside it.
"""

from __future__ import annotations

import datetime as dt
import re

import attrs

from .guards import WINDOW_ZH
from .policy import Policy, Window
from .verdict import add_months

KNOWN_HUMANITIES_REASONS = ("age_60", "tcm_1998")
REASON_ID = re.compile(r"^[a-z0-9_]{1,64}$")


LEVEL_ZH = {"error": "错误", "warning": "提醒"}


@attrs.frozen
class Finding:
    level: str  # "error" | "warning"
    field: str
    message: str
    message_zh: str = ""

    def __str__(self) -> str:
        english = f"{self.level.upper():7} {self.field}: {self.message}"
        if not self.message_zh:
            return english
        # Chinese first, the English line under it (the field id is the same in both: it is the file's key).
        return f"{LEVEL_ZH.get(self.level, self.level)}    {self.field}：{self.message_zh}\n  {english}"


def _error(field: str, message: str, message_zh: str = "") -> Finding:
    return Finding("error", field, message, message_zh)


def _warning(field: str, message: str, message_zh: str = "") -> Finding:
    return Finding("warning", field, message, message_zh)


def _w(name: str) -> str:
    return WINDOW_ZH.get(name, name)


def _before(a: str, wa: Window, b: str, wb: Window) -> list[Finding]:
    """``a`` must end before ``b`` starts."""
    if wa.end >= wb.start:
        return [
            _error(
                f"windows.{b}",
                f"starts {wb.start}, before {a} ends {wa.end}; they must not overlap",
                f"{_w(b)}开始于 {wb.start}，早于{_w(a)}结束日 {wa.end}；时间窗口不得重叠",
            )
        ]
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
                f"延期考核申请截止日 {w.deferral_deadline} 须在报名开始 {w.registration.start}"
                f" 与首轮考核开始 {w.first_round.start} 之间",
            )
        )
    for test, grading in (("first_round", "grading"), ("makeup", "makeup_grading"), ("reexam", "reexam_grading")):
        tw, gw = getattr(w, test), getattr(w, grading)
        if gw.end < tw.start:
            zh = f"{_w(grading)}结束于 {gw.end}，早于{_w(test)}开始 {tw.start}"
            out.append(_error(f"windows.{grading}", f"ends {gw.end}, before {test} starts {tw.start}", zh))
        elif gw.start <= tw.end and grading == "grading":
            zh = f"{_w(grading)}于 {gw.start} 开始，而{_w(test)}持续到 {tw.end}"
            out.append(
                _warning(f"windows.{grading}", f"grading opens {gw.start} while the {test} runs until {tw.end}", zh)
            )
    if w.registration.start <= p.period.end:
        out.append(
            _warning(
                "windows.registration",
                f"registration opens {w.registration.start}, before the period ends {p.period.end}",
                f"报名于 {w.registration.start} 开始，早于考核周期结束 {p.period.end}",
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
                    f"不是国家规定的免考理由（{'、'.join(KNOWN_HUMANITIES_REASONS)}）"
                    + ("；无法自动核对" if reason.min_age is None else ""),
                )
            )
    for rid, reason in p.business_exemptions.reasons.items():
        if not REASON_ID.match(rid):
            out.append(
                _error(
                    f"business_exemptions.reasons.{rid}",
                    "a reason id is lower-case letters, digits and _",
                    "免考理由编号只能由小写字母、数字和 _ 组成",
                )
            )
        if not reason.text.strip():
            out.append(_error(f"business_exemptions.reasons.{rid}.text", "is empty", "免考理由内容为空"))
    if p.business_exemptions.open and not p.business_exemptions.reasons:
        out.append(
            _warning(
                "business_exemptions",
                "applications are open but the list of reasons is empty",
                "业务水平免考申请已开启，但免考理由清单为空",
            )
        )
    for cid in p.simple_conditions:
        if not REASON_ID.match(cid):
            out.append(
                _error(
                    f"simple_conditions.{cid}",
                    "a condition id is lower-case letters, digits and _",
                    "简易程序条件编号只能由小写字母、数字和 _ 组成",
                )
            )
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
                f"即使最短的暂停执业期（自 {w.grading.end} 起 {s.min_months} 个月）也要到 {shortest} 才届满，"
                f"比再次考核结束日 {w.reexam.end} 晚 {_missing(shortest, w.reexam.end)} 天：本周期无人能参加再次考核，"
                "均留在名单中（待下一再次考核时段）",
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
                f"成绩评定结束（{w.grading.end}）时开始的 {s.max_months} 个月暂停执业期到 {longest} 才届满，"
                f"比再次考核结束日 {w.reexam.end} 晚 {_missing(longest, w.reexam.end)} 天：这些医师本周期不能参加"
                "再次考核，留在名单中（待下一再次考核时段）",
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
                f"补考不合格的医师最早于 {w.makeup_grading.start} 评定；即使 {s.min_months} 个月的暂停执业期也要到"
                f" {makeup_fail} 才届满，比再次考核结束日 {w.reexam.end} 晚 {_missing(makeup_fail, w.reexam.end)} 天："
                "他们本周期不能参加再次考核，留在名单中（待下一再次考核时段）",
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
                f"再次考核次数设为 {p.reexam.attempts}：再次考核对每项不合格的测评只考一次（考核不合格的项目），"
                "实际按 1 次执行",
            )
        ]
    return []


CHECKS = (window_order, reasons, suspension_reach, reexam_attempts)


def lint(policy: Policy) -> list[Finding]:
    return [finding for check in CHECKS for finding in check(policy)]
