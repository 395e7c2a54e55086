"""Guard rules: one pure function each, named by the rule id machine files use.

Each takes ``(instance, policy, command, at)`` (plus the argument after ``:``
in the rule id, e.g. the window in ``window_open:registration``) and returns a
``Verdict``; a refusal carries the SPEC §4 rule id it is reported under.  No
rule reads the clock: ``at`` is the command's time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..model import Act, Case, Instance
from .policy import Policy, Window
from .results import DUE, TEST_REASON, program_test, reexam_items, suspension_in_time
from .verdict import PASS, Verdict, add_months, anniversary, refuse

__all__ = ["program_test"]

WINDOW_ZH = {
    "registration": "报名",
    "first_round": "首轮考核",
    "grading": "成绩评定",
    "makeup": "补考",
    "makeup_grading": "补考成绩评定",
    "reexam": "再次考核",
    "reexam_grading": "再次考核评定",
}


def exam_window(inst: Instance) -> str:
    """Which window a test attempt falls in: the re-exam, the make-up, or the first round."""
    if inst.state.startswith("reexam"):
        return "reexam"
    return "makeup" if "resumed" in inst.flags else "first_round"


def grading_window(inst: Instance) -> str:
    if inst.state.startswith("reexam"):
        return "reexam_grading"
    return "makeup_grading" if "resumed" in inst.flags else "grading"


#: The windows that follow the doctor's round: which one is the instance's to say.
ROUND_WINDOWS = {"exam": exam_window, "grading": grading_window}


def window_open(inst: Instance, policy: Policy, act: Act, at: dt.datetime, window: str) -> Verdict:
    """The step is inside its window (``exam`` and ``grading`` follow the doctor's round)."""
    of_round = ROUND_WINDOWS.get(window)
    name = of_round(inst) if of_round else window
    span: Window = getattr(policy.windows, name)
    day = policy.day(at)
    if day in span:
        return PASS
    return refuse(
        "window_closed",
        f"{WINDOW_ZH.get(name, name)}时间为{span.start}至{span.end}，今天是{day}",
        f"the {name.replace('_', ' ')} window is {span.start} to {span.end}; it is {day}",
    )


def cycle_confirmed(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """参加考核 only from an institution that confirmed taking part in the cycle (确认考核周期), when the
    policy asks for it (``[registration] require_cycle_confirmation``); ``policy.confirmed`` is the
    world's set of institutions that did."""
    if not policy.registration.require_cycle_confirmation or act.doctor.institution in policy.confirmed:
        return PASS
    return refuse(
        "cycle_not_confirmed",
        f"卫生机构 {act.doctor.institution} 尚未确认考核周期，不能纳入医师",
        f"{act.doctor.institution} has not confirmed taking part in the cycle {policy.id}: it enrols once it has",
    )


def window_over(inst: Instance, policy: Policy, act: Act, at: dt.datetime, window: str) -> Verdict:
    """A closing sweep runs only once its window has ended."""
    span: Window = getattr(policy.windows, window)
    day = policy.day(at)
    if day > span.end:
        return PASS
    return refuse(
        "window_still_open",
        f"{WINDOW_ZH.get(window, window)}截止于{span.end}，尚未结束",
        f"the {window.replace('_', ' ')} window runs until {span.end}; it is {day}",
    )


def before_deferral_deadline(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    day = policy.day(at)
    deadline = policy.windows.deferral_deadline
    if day <= deadline:
        return PASS
    return refuse(
        "deferral_deadline_passed",
        f"延期考核申请截止于{deadline}",
        f"deferral requests closed on {deadline}; it is {day}",
    )


def no_score_yet(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """A deferral is for a doctor who has not sat any test yet."""
    if inst.humanities_attempts == 0 and inst.business_attempts == 0:
        return PASS
    return refuse("not_eligible", "已有测评成绩，不能申请延期", "a score is already recorded; no deferral")


def simple_not_refused(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    if "simple_refused" not in inst.flags:
        return PASS
    return refuse(
        "not_eligible",
        "本周期简易程序申请已被驳回，须按一般程序考核",
        "the simple program was refused this cycle; the general program applies",
    )


def years_at_period_end(since: dt.date, policy: Policy) -> int:
    end = policy.period.end
    years = end.year - since.year
    return years - 1 if anniversary(since, years) > end else years


def simple_condition_met(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """The declared 简易程序 condition holds at the period end ("5年以上" includes 5)."""
    cid = act.data["condition"]
    cond = policy.simple_conditions.get(cid)
    if cond is None:
        known = ", ".join(sorted(policy.simple_conditions))
        return refuse(
            "not_eligible", f"未知的简易程序条件：{cid}", f"unknown simple-program condition {cid!r} (known: {known})"
        )
    years = years_at_period_end(act.doctor.practice_since, policy)
    if years < cond.min_years:
        return refuse(
            "not_eligible",
            f"执业年限{years}年，不满{cond.min_years}年",
            f"{years} years of practice at the period end; {cond.en} needs {cond.min_years}",
        )
    if act.doctor.record not in cond.records:
        return refuse(
            "not_eligible",
            f"行为记录（{act.doctor.record}）不符合“{cond.zh}”",
            f"conduct record {act.doctor.record!r} does not meet {cond.en}",
        )
    return PASS


def humanities_exemption_applies(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """``age_60``: born no later than the period end minus 60 years; other reasons are judged from proof."""
    rid = act.data["reason_id"]
    reason = policy.humanities_exemptions.get(rid)
    if reason is None:
        known = ", ".join(sorted(policy.humanities_exemptions))
        return refuse(
            "not_eligible", f"简易程序免考理由不存在：{rid}", f"{rid!r} is not a humanities exemption (known: {known})"
        )
    if reason.min_age is not None and anniversary(act.doctor.birth_date, reason.min_age) > policy.period.end:
        return refuse(
            "not_eligible",
            f"考核周期内未满{reason.min_age}周岁",
            f"does not turn {reason.min_age} by the period end {policy.period.end}",
        )
    return PASS


def exemption_not_forbidden(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    if "exemption_forbidden" not in inst.flags:
        return PASS
    return refuse("exemption_forbidden", "免考申请已被驳回并禁止再次申请", "a new exemption application was forbidden")


def business_exemption_open(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    rid = act.data["reason_id"]
    listing = policy.business_exemptions
    reason = listing.reasons.get(rid)
    if reason is None:
        known = ", ".join(sorted(listing.reasons))
        return refuse(
            "not_eligible", f"业务水平免考理由不存在：{rid}", f"{rid!r} is not on the province's list (known: {known})"
        )
    if not (listing.open and reason.open):
        return refuse("exemption_closed", "业务水平免考申请未开启", f"applications for {rid!r} are closed")
    return PASS


def no_business_score(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    if inst.business_attempts == 0:
        return PASS
    return refuse("not_eligible", "已有业务水平成绩，不能申请免考", "the business test is already scored")


#: A re-exam item that is not a test: the fresh evaluation of work and ethics.
_ITEM_ZH = {"evaluation": "工作成绩、职业道德评定"}


def _test_zh(policy: Policy, test: str) -> str:
    """A test's Chinese name for a message (医学人文, 业务水平), never its id."""
    spec = policy.tests.get(test)
    return spec.zh if spec is not None else _ITEM_ZH.get(test, test)


def _flag_zh(flag: str) -> str:
    # Imported here: the labels read the machines, which bind these rules when compiled.
    from ..labels import flag as label

    return label(flag).zh


def test_in_program(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """The simple program sits humanities only; an exempt test is not sat; the re-exam sits what failed.

    A first-round exemption does not carry into the re-exam of a discipline finding (its tests do not
    count), and a business-exempt doctor who failed humanities re-sits humanities (``reexam_items``).
    """
    test = act.data["test"]
    if inst.state.startswith("reexam"):
        items = reexam_items(inst, policy, act.doctor.license)
        if test in items:
            return PASS
        covered = "、".join(_test_zh(policy, t) for t in items)
        return refuse(
            "not_eligible",
            f"再次考核不包括{_test_zh(policy, test)}测评（再次考核：{covered}）",
            f"the re-exam does not cover the {test} test (it covers: {', '.join(items)})",
        )
    allowed = {"humanities"} if inst.program == "simple" else {"humanities", "business"}
    if test in allowed and f"{test}_exempt" not in inst.flags:
        return PASS
    return refuse(
        "not_eligible", f"该医师当前不参加{_test_zh(policy, test)}测评", f"the doctor does not sit the {test} test now"
    )


def attempts_remain(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    test = act.data["test"]
    if inst.state.startswith("reexam"):
        # One attempt of each test the re-exam covers: its flag goes once it is sat.
        if DUE[test] in inst.flags:
            return PASS
        zh = f"再次考核的{_test_zh(policy, test)}测评已参加"
        return refuse("attempts_exhausted", zh, f"the re-exam's {test} test is already sat")
    used = inst.humanities_attempts if test == "humanities" else inst.business_attempts
    allowed = policy.tests[test].attempts
    if used < allowed:
        return PASS
    return refuse("attempts_exhausted", f"考核次数已用完（{allowed}次）", f"all {allowed} attempts are used")


def test_sat(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """A score is corrected only for a test the doctor sat (and the result was given for)."""
    test = act.data["test"]
    used = inst.humanities_attempts if test == "humanities" else inst.business_attempts
    if used > 0:
        return PASS
    zh = f"该医师未参加{_test_zh(policy, test)}测评，无成绩可更正"
    return refuse("not_eligible", zh, f"the doctor has no {test} score to correct")


def reevaluation_due(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """The re-exam re-evaluates work and ethics only when that (or a conduct finding) failed."""
    if DUE["evaluation"] in inst.flags:
        return PASS
    return refuse(
        "not_eligible",
        "再次考核不包括工作成绩、职业道德评定（或已评定）",
        "the re-exam does not re-evaluate work and ethics (or it is done)",
    )


def suspension_in_range(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    months, s = act.data["months"], policy.suspension
    if s.min_months <= months <= s.max_months:
        return PASS
    return refuse(
        "suspension_out_of_range",
        f"暂停执业期限须为{s.min_months}至{s.max_months}个月",
        f"a suspension lasts {s.min_months}–{s.max_months} months, not {months}",
    )


def suspension_end(inst: Instance) -> dt.date | None:
    if inst.suspended_on is None or inst.suspension_months is None:
        return None
    return add_months(inst.suspended_on, inst.suspension_months)


def suspension_over(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    end = suspension_end(inst)
    day = policy.day(at)
    if end is None or day >= end:
        return PASS
    return refuse("suspension_not_over", f"暂停执业期至{end}，尚未期满", f"the suspension runs until {end}")


def suspension_ended_in_time(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """Art. 26: nobody loses the registration for a re-exam they could not sit — ``close_reexam`` cancels
    only a doctor whose suspension was over by the window's last day."""
    if suspension_in_time(inst, policy):
        return PASS
    end, last = suspension_end(inst), policy.windows.reexam.end
    return refuse(
        "suspension_not_over",
        f"暂停执业期至{end}，晚于再次考核截止日{last}，待下一次再次考核",
        f"the suspension runs until {end}, after the re-exam window closed {last}: the doctor waits for a later one",
    )


def assistance_age(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    age = policy.assistance.min_age
    if anniversary(act.doctor.birth_date, age) <= policy.period.end:
        return PASS
    return refuse(
        "not_eligible", f"年满{age}周岁方可申请从旁指导", f"assisted testing is for doctors aged {age} or more"
    )


def flag_set(inst: Instance, policy: Policy, act: Act, at: dt.datetime, flag: str) -> Verdict:
    if flag in inst.flags:
        return PASS
    return refuse("not_eligible", f"尚无“{_flag_zh(flag)}”标记", f"the instance is not marked {flag}")


def flag_clear(inst: Instance, policy: Policy, act: Act, at: dt.datetime, flag: str) -> Verdict:
    if flag not in inst.flags:
        return PASS
    return refuse("not_eligible", f"已有“{_flag_zh(flag)}”标记", f"the instance is already marked {flag}")


def resumed(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """The make-up sweep concerns only doctors who came back from a deferral."""
    if "resumed" in inst.flags:
        return PASS
    return refuse("not_eligible", "该医师未参加补考", "the doctor is not in the make-up")


def not_resumed(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """The first-round sweep leaves doctors of the make-up alone."""
    if "resumed" not in inst.flags:
        return PASS
    return refuse("not_eligible", "该医师参加补考", "the doctor is in the make-up")


# -- appeals (复核申请, art. 24 of the 2007 measures) and violations -------------------------------

#: Results a person judged (the institution's evaluation, a discipline or violation finding) and an
#: absence (the doctor says the app failed): an upheld review sets them aside.  A score is corrected
#: instead (``correct_score``): the grade then follows from the scores.
UPHOLDABLE = frozenset({"work_performance", "ethics", "discipline", "violation", "absent"})
SCORE_REASONS = frozenset(TEST_REASON.values())


def _last_day(iso_day: str, days: int) -> dt.date:
    """ "之日起30日内": the day itself is not counted, so day + 30 is the last day."""
    return dt.date.fromisoformat(iso_day) + dt.timedelta(days=days)


def not_appealed(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """One review per result."""
    if "appealed" not in inst.flags:
        return PASS
    return refuse("not_eligible", "该考核结果已申请过复核", "this result has already been appealed")


def appeal_in_time(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """Within the policy's days of the result (art. 24: 30); a result from before the day was
    recorded is given the benefit."""
    if inst.result_on is None:
        return PASS
    days = policy.appeal.request_days
    last, day = _last_day(inst.result_on, days), policy.day(at)
    if day <= last:
        return PASS
    return refuse(
        "appeal_deadline_passed",
        f"复核申请须在收到考核结果之日起{days}日内提出（截至{last}）",
        f"an appeal must be made within {days} days of the result (by {last}); it is {day}",
    )


def appeal_answerable(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """The agency answers within the policy's days of the request (art. 24: 30); an appeal it left
    unanswered past that goes to the health authority over the doctor, so that no doctor waits for
    ever (and the suspension with them)."""
    days = policy.appeal.answer_days
    last, day = _last_day(inst.appeal_on or policy.day(at).isoformat(), days), policy.day(at)
    if act.actor.role == "agency":
        if day <= last:
            return PASS
        return refuse(
            "appeal_deadline_passed",
            f"考核机构须在接到复核申请之日起{days}日内答复（截至{last}），逾期由卫生行政部门处理",
            f"the agency answers within {days} days of the request (by {last}); past that the authority does",
        )
    if day > last:
        return PASS
    return refuse(
        "appeal_not_overdue",
        f"复核由考核机构在{last}前答复，逾期后卫生行政部门方可处理",
        f"the agency answers this appeal until {last}; the authority only once that has passed",
    )


def result_may_be_set_aside(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """Art. 24 gives the review to every result; a score result is answered by correcting the score."""
    if inst.reason in UPHOLDABLE:
        return PASS
    return refuse(
        "not_eligible",
        "成绩不达标的考核结果经复核变更的，由考核机构更正成绩（复核：更正测评成绩），结果依成绩评定",
        f"a result for {inst.reason} follows from the scores: an upheld review records the corrected score"
        " (correct_score) and the grade follows from it",
    )


def result_is_score(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    if inst.reason in SCORE_REASONS:
        return PASS
    return refuse(
        "not_eligible",
        "该考核结果不是依成绩得出的，无成绩可更正",
        f"a result for {inst.reason} does not follow from a score: there is no score to correct",
    )


def before_reexam_closes(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    """A finding after a pass (the photo review comes after the tests) until the cycle's re-exam closes."""
    span, day = policy.windows.reexam, policy.day(at)
    if day <= span.end:
        return PASS
    return refuse(
        "window_closed",
        f"本周期再次考核已于{span.end}结束，合格结果不再变更",
        f"the cycle's re-exam closed {span.end}; a qualified result no longer changes (it is {day})",
    )


def institution_differs(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Verdict:
    if act.data["institution"] != act.doctor.institution:
        return PASS
    return refuse("not_eligible", "医师已在该卫生机构", f"the doctor is already at {act.data['institution']}")


# -- workflow cases (agency applications, info changes, accounts, exports) -------------------------
#
# ``case`` is the ``Case``; ``act.subject`` its ``Subject``, with the world snapshot the command is
# judged in (and for an info change the doctor's instance), so a guard reading it stays pure.

KIND_ZH = {
    "institution": "卫生机构",
    "industry_org": "行业组织",
    "admin": "卫生行政部门",
    "province": "省级卫生行政部门",
}
KIND_EN = {"institution": "a health institution", "industry_org": "an industry organisation"}
#: Doctor-machine states a doctor is in once registered (报名成功) for the cycle: ``registered``
#: and every state after it — the programs, the results, the appeal, the re-exam.  Not
#: ``registration_cancelled``: the practice registration itself is gone.
REGISTERED_PREFIXES = ("simple.", "general.", "appeal.", "reexam.")
REGISTERED_STATES = frozenset({"registered", "qualified", "unqualified", "reexam_passed"})


def registered(state: str, deferred_from: str | None) -> bool:
    """Registered in the cycle; a deferral counts when it was asked for after registering."""
    if state in REGISTERED_STATES or state.startswith(REGISTERED_PREFIXES):
        return True
    if state.startswith("deferral.") or state == "deferred":
        return deferred_from is not None and registered(deferred_from, None)
    return False


def subject_kind(case: Case, policy: Policy | None, act: Act, at: dt.datetime, kind: str) -> Verdict:
    """An institution applies to be an agency; an industry organisation is made one directly."""
    if act.subject.kind == kind:
        return PASS
    return refuse(
        "not_eligible",
        f"该操作仅适用于{KIND_ZH.get(kind, kind)}",
        f"only for {KIND_EN.get(kind, kind)}; {case.subject} is {KIND_EN.get(act.subject.kind, act.subject.kind)}",
    )


def not_assigned(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    institution = act.data["institution"]
    if institution not in case.values.get("assigned", ()):
        return PASS
    return refuse("not_eligible", f"{institution} 已指定给该考核机构", f"{institution} is already assigned to it")


def assigned(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    institution = act.data["institution"]
    if institution in case.values.get("assigned", ()):
        return PASS
    return refuse("not_eligible", f"{institution} 未指定给该考核机构", f"{institution} is not assigned to it")


def assigned_nowhere_else(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    """One agency per institution: two agencies judging the same doctors would contradict each other."""
    institution = act.data["institution"]
    for agency in act.subject.world.agencies.values():
        if agency.id != case.subject and institution in agency.institutions:
            return refuse(
                "not_eligible",
                f"{institution} 已指定给考核机构 {agency.id}，须先撤销",
                f"{institution} is assigned to agency {agency.id}; withdraw it there first",
            )
    return PASS


def registered_in_cycle(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    """医师信息修改 is for doctors registered in the cycle (已报名医师)."""
    inst = act.subject.instance
    if inst is not None and registered(inst.state, inst.deferred_from):
        return PASS
    state = inst.state if inst is not None else "no cycle"
    return refuse(
        "not_eligible",
        "仅本周期已报名的医师可申请修改信息",
        f"only a doctor registered in the cycle may change their details ({act.subject.id} is {state})",
    )


# -- the organisations' own records: proctoring photos, settings, 本机构信息, departments ---------------
# Like every case rule these read only the case and the command's data (and a guard may read its
# subject): facts the engine looks up in storage (how many doctors use an exemption reason, which
# sub-departments a department has) are added to the data by the system before the decision
# (``workflows.Kind.complete``), so they are in the record and the history rebuilds the case alone.


# -- 监考照片 -----------------------------------------------------------------------------------------


def attempt_recorded(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    """The testing app sends an attempt's photos after its score: the attempt must have been recorded."""
    inst = act.subject.instance
    test, attempt = act.data["test"], act.data["attempt"]
    done = 0 if inst is None else getattr(inst, f"{test}_attempts") + inst.reexam_attempts
    if attempt <= done:
        return PASS
    return refuse(
        "not_eligible",
        f"该医师的{'医学人文' if test == 'humanities' else '业务水平'}第 {attempt} 次测评尚无成绩",
        f"attempt {attempt} of the {test} test has no recorded score ({done} recorded)",
    )


def reason_unused(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    """A reason a doctor has applied with cannot be deleted: their application would name nothing.

    ``used`` is filled in by the system (judged first without it, then with it)."""
    used = act.data.get("used", 0)
    if not used:
        return PASS
    return refuse(
        "reason_in_use",
        f"免考理由 {act.data['reason_id']} 已被 {used} 名医师使用，不能删除（可关闭申请）",
        f"{used} doctor(s) applied with {act.data['reason_id']!r}; close it instead of deleting it",
    )


def cycle_not_confirmed(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    cycle = act.data.get("cycle")
    if cycle not in case.values.get("confirmed", ()):
        return PASS
    return refuse("not_eligible", f"已确认考核周期 {cycle}", f"cycle {cycle} is already confirmed")


def second_level(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    """A doctor works in a second-level department (一级科室、二级科室都必须创建)."""
    if case.values.get("level") == 2:
        return PASS
    return refuse(
        "not_eligible",
        "医师须归入二级科室",
        f"{case.id} is a first-level department: place doctors in its second level",
    )


def doctor_in_no_department(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    """A doctor is in one department: moved out of the old one first (``elsewhere`` filled by the system)."""
    other = act.data.get("elsewhere")
    if not other:
        if act.data["doctor"] in case.values.get("doctors", ()):
            return refuse(
                "not_eligible", f"医师 {act.data['doctor']} 已在该科室", f"{act.data['doctor']} is already here"
            )
        return PASS
    return refuse(
        "not_eligible",
        f"医师 {act.data['doctor']} 已在科室 {other}，须先移出",
        f"{act.data['doctor']} is in department {other}; remove them there first",
    )


def doctor_here(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    if act.data["doctor"] in case.values.get("doctors", ()):
        return PASS
    return refuse("not_eligible", f"医师 {act.data['doctor']} 不在该科室", f"{act.data['doctor']} is not in {case.id}")


def department_unused(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Verdict:
    """新建科室一旦被医师使用，无法直接删除: no doctor in it, and no second-level department under it
    (``children`` filled by the system)."""
    doctors: list[Any] = case.values.get("doctors", [])
    children = act.data.get("children", 0)
    if not doctors and not children:
        return PASS
    return refuse(
        "department_in_use",
        f"科室 {case.id} 仍有 {len(doctors)} 名医师、{children} 个二级科室，须先调整到其他科室",
        f"{case.id} still has {len(doctors)} doctor(s) and {children} sub-department(s): move them first",
    )
