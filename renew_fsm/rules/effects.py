"""Effects: what a transition writes into the instance besides its state.

Each returns the changed fields as a dict (the engine applies them all at once);
pure functions of ``(instance, policy, command, at)``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..model import Act, Case, Instance, canonical
from .policy import Policy
from .results import (
    ATTEMPTS,
    BEST,
    DUE,
    EVALUATED,
    FAILED,
    REEXAM_WORK,
    TEST_REASON,
    reexam_items,
    reexam_reason,
    suspension_in_time,
    test_passed,
    unfinished_reason,
)

Changes = dict[str, Any]

PROGRAM_FIELDS: Changes = {
    "program": None,
    "condition": None,
    "work_performance": None,
    "ethics": None,
    "exemption_reason": None,
}


def set_program(inst: Instance, policy: Policy, act: Act, at: dt.datetime, program: str) -> Changes:
    return {"program": program, "condition": act.data.get("condition")}


#: Flags a program's exemption flow sets; a new program choice starts without them.
EXEMPTION_FLAGS = frozenset({"humanities_exempt", "business_exempt", "exemption_forbidden"})


def clear_program(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Back to choosing a program: its evaluation and its exemptions go; attempts already sat stay counted."""
    return {**PROGRAM_FIELDS, "flags": inst.flags - EXEMPTION_FLAGS}


def store_evaluation(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    return {"work_performance": act.data["work_performance"], "ethics": act.data["ethics"]}


def clear_evaluation(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    return {"work_performance": None, "ethics": None}


def fail_evaluation(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Work performance is named first when both failed (the manual lists it first)."""
    return {"reason": "work_performance" if inst.work_performance != "pass" else "ethics"}


def record_score(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Count the attempt; the best attempt is the one that counts.  In the re-exam each covered test is
    sat once: its due flag goes, and a score under the line fails the re-exam."""
    test, score = act.data["test"], act.data["score"]
    if inst.state.startswith("reexam"):
        previous = inst.reexam_best
        changes: Changes = {
            "reexam_attempts": inst.reexam_attempts + 1,
            "reexam_best": score if previous is None else max(previous, score),
            "flags": inst.flags - {DUE[test]},
        }
        if score < policy.pass_line(test, act.doctor.license):
            changes["flags"] |= {FAILED}
        if inst.suspension_months == 0 and inst.reason in ("absent", None):
            # Listed by an upheld appeal against an absence (no suspension): sitting, the doctor is no
            # longer absent; the reason is what they fail.
            changes["reason"] = TEST_REASON[test] if score < policy.pass_line(test, act.doctor.license) else None
        return changes
    attempts, best = ATTEMPTS[test], BEST[test]
    previous = getattr(inst, best)
    return {attempts: getattr(inst, attempts) + 1, best: score if previous is None else max(previous, score)}


def fail_grade(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """The reason is the test that failed; the business test is named first in the general program.
    A failed re-exam keeps the reason it was about (its working flags go with it)."""
    if inst.state.startswith("reexam"):
        return {"reason": reexam_reason(inst), "flags": inst.flags - REEXAM_WORK}
    license = act.doctor.license
    if inst.program != "simple" and not test_passed(inst, policy, "business", license):
        return {"reason": "business_level"}
    return {"reason": "humanities"}


def judge_unfinished(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """A window closed on the doctor: ``absent`` only with no attempt at all (附件2: 未参加首轮考核),
    else judged on the tests."""
    return {"reason": unfinished_reason(inst, policy, act.doctor.license)}


def close_reexam(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """The re-exam window closed on a listed doctor: ``absent`` if nothing of it was sat, else the item
    failed or left unsat."""
    return {"reason": reexam_reason(inst), "flags": inst.flags - REEXAM_WORK}


def plan_reexam(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """The re-exam re-assesses what failed: one due flag per item (``reexam_items``)."""
    due = {DUE[item] for item in reexam_items(inst, policy, act.doctor.license)}
    return {"flags": (inst.flags - REEXAM_WORK) | due}


def list_without_suspension(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """An upheld appeal against an absence after the make-up lists the doctor with no suspension: a
    suspension of 0 months from today, so the day of listing is kept and judged like any other (listed
    after the re-exam window closed, the doctor waits for a later one)."""
    return {"suspended_on": policy.day(at), "suspension_months": 0}


def pending_if_suspended_past_window(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Art. 26: listed with a suspension that ends after the re-exam window, the doctor cannot sit it;
    the flag says so and keeps ``close_reexam`` from cancelling them."""
    if suspension_in_time(inst, policy):
        return {}
    return {"flags": inst.flags | {"reexam_pending"}}


def store_reevaluation(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """The institution's fresh evaluation in the re-exam, awaiting the agency."""
    return {**store_evaluation(inst, policy, act, at), "flags": inst.flags | {EVALUATED}}


def confirm_reevaluation(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """The agency confirms the fresh evaluation: the item is done, failed unless both items pass."""
    flags = inst.flags - {DUE["evaluation"], EVALUATED}
    if not (inst.work_performance == "pass" and inst.ethics == "pass"):
        flags |= {FAILED}
    return {"flags": flags}


def correct_score(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """An upheld appeal against a score: the agency's corrected score replaces the recorded one."""
    return {BEST[act.data["test"]]: act.data["score"]}


def set_flag(inst: Instance, policy: Policy, act: Act, at: dt.datetime, flag: str) -> Changes:
    return {"flags": inst.flags | {flag}}


def clear_flag(inst: Instance, policy: Policy, act: Act, at: dt.datetime, flag: str) -> Changes:
    return {"flags": inst.flags - {flag}}


def set_reason(inst: Instance, policy: Policy, act: Act, at: dt.datetime, reason: str) -> Changes:
    return {"reason": reason}


def store_exemption_reason(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    return {"exemption_reason": act.data["reason_id"]}


def exempt(inst: Instance, policy: Policy, act: Act, at: dt.datetime, test: str) -> Changes:
    return {"flags": inst.flags | {f"{test}_exempt"}}


def reject_exemption(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """``forbid`` closes the door for the cycle; ``supplement`` lets the doctor apply again."""
    flags = inst.flags | {"exemption_forbidden"} if act.data["mode"] == "forbid" else inst.flags
    return {"flags": flags, "exemption_reason": None}


def remember_state(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    return {"deferred_from": inst.state}


def start_suspension(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    return {"suspended_on": policy.day(at), "suspension_months": act.data["months"]}


def discipline(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Cheating is also made public (向社会公布)."""
    flags = inst.flags - REEXAM_WORK
    if act.data["finding"] == "cheating":
        flags |= {"published"}
    return {"reason": "discipline", "finding": act.data["finding"], "flags": flags}


def reset_cycle(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Out of the cycle: start afresh, but a cheating finding made public stays public."""
    keep = ("doctor", "cycle", "state", "version", "head")
    changes = {name: value for name, value in Instance._field_defaults.items() if name not in keep}
    changes["flags"] = inst.flags & {"published"}
    return changes


# -- results, violations and appeals ---------------------------------------------------------------


def violation(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Art. 27: the finding is kept with the result."""
    return {"reason": "violation", "finding": act.data["finding"]}


def result_given(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """An unqualified result: the day it was given (the appeal runs from it) and the step it was given
    in (where an upheld appeal returns the doctor to; the deferral's memory, idle once a result is given)."""
    return {"result_on": policy.day(at).isoformat(), "deferred_from": inst.state}


def store_appeal_day(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    return {"appeal_on": policy.day(at).isoformat()}


def pass_evaluation(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """An upheld appeal against the work or ethics evaluation sets the failed items aside."""
    if inst.reason not in ("work_performance", "ethics"):
        return {}
    return {"work_performance": "pass", "ethics": "pass"}


def set_aside_result(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """The unqualified result and its finding are set aside; a cheating finding withdrawn is unpublished."""
    flags = inst.flags - {"published"} if inst.finding == "cheating" else inst.flags
    return {"reason": None, "finding": None, "flags": flags}


def to_makeup_if_late(inst: Instance, policy: Policy, act: Act, at: dt.datetime) -> Changes:
    """Back to an unfinished step after the first round closed: the doctor finishes in the make-up round."""
    if policy.day(at) > policy.windows.first_round.end and "resumed" not in inst.flags:
        return {"flags": inst.flags | {"resumed"}}
    return {}


# -- workflow cases ---------------------------------------------------------------------------------
#
# A case's effects read only the case and the command's data (``policy`` is ``None`` for cases), so
# its history rebuilds it from its records alone.


def _data(case: Case, **changes: Any) -> Changes:
    """The case's data with ``changes`` (``None`` removes a key), as canonical JSON."""
    values = case.values
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return {"data": canonical(values)}


def remember(case: Case, policy: Policy | None, act: Act, at: dt.datetime, field: str) -> Changes:
    """Keep a field of the command (materials, a reason, a cycle) in the case's data."""
    if field not in act.data:
        return {}
    return _data(case, **{field: act.data[field]})


def forget(case: Case, policy: Policy | None, act: Act, at: dt.datetime, field: str) -> Changes:
    return _data(case, **{field: None})


def assign(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    return _data(case, assigned=sorted({*case.values.get("assigned", ()), act.data["institution"]}))


def withdraw(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    return _data(case, assigned=sorted(set(case.values.get("assigned", ())) - {act.data["institution"]}))


def store_changes(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    """The edited profile fields, to be written into the registry when approved."""
    return _data(case, changes=dict(act.data))


def store_export(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    """The produced list's size and digest (the engine judges the step first without them, then with)."""
    if "sha256" not in act.data:
        return {}
    return _data(case, rows=act.data["rows"], taken=act.data["taken"], sha256=act.data["sha256"])


def count(case: Case, policy: Policy | None, act: Act, at: dt.datetime, key: str) -> Changes:
    """How many times it happened (downloads, password resets)."""
    return _data(case, **{key: case.values.get(key, 0) + 1})


# -- the organisations' own records: proctoring photos, settings, 本机构信息, departments ---------------
# Like every case rule these read only the case and the command's data (and a guard may read its
# subject): facts the engine looks up in storage (how many doctors use an exemption reason, which
# sub-departments a department has) are added to the data by the system before the decision
# (``workflows.Kind.complete``), so they are in the record and the history rebuilds the case alone.


def store_photos(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    """The attempt's photo references, capture times and similarity; ``lowest`` is its 最低相似度."""
    d = act.data
    lowest = min([d["similarity"], *(p["similarity"] for p in d["photos"] if "similarity" in p)])
    return _data(
        case, test=d["test"], attempt=d["attempt"], similarity=d["similarity"], lowest=lowest, photos=d["photos"]
    )


# -- 本周期考核设置, 免考设置 -------------------------------------------------------------------------


def store_policy(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    """Which policy the province loaded (its id, version and the SHA-256 of its text)."""
    if "sha256" not in act.data:
        return {}
    return _data(case, cycle=act.data["policy"], version=act.data["version"], sha256=act.data["sha256"])


def count_reasons(case: Case, policy: Policy | None, act: Act, at: dt.datetime, change: str) -> Changes:
    """How many reasons the province has added, edited, opened, closed or deleted: a running tally."""
    tally = dict(case.values.get("reason_changes", {}))
    tally[change] = tally.get(change, 0) + 1
    return _data(case, reason_changes=tally)


# -- 本机构信息 ---------------------------------------------------------------------------------------


def store_info(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    """The organisation's own fields (address, contact, phone…): the new ones over the old."""
    return _data(case, info={**case.values.get("info", {}), **act.data})


def store_members(case: Case, policy: Policy | None, act: Act, at: dt.datetime, body: str) -> Changes:
    """The members of the 考核管理委员会 (``committee``) or 考核办公室 (``office``), as saved."""
    return _data(case, **{body: act.data["members"]})


def confirm_cycle(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    return _data(case, confirmed=sorted({*case.values.get("confirmed", ()), act.data["cycle"]}))


# -- 科室信息维护 -------------------------------------------------------------------------------------


def store_department(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    d = act.data
    return _data(case, name=d["name"], intro=d.get("intro"), parent=d.get("parent"), level=2 if d.get("parent") else 1)


def place_doctor(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    return _data(case, doctors=sorted({*case.values.get("doctors", ()), act.data["doctor"]}))


def remove_doctor(case: Case, policy: Policy | None, act: Act, at: dt.datetime) -> Changes:
    return _data(case, doctors=sorted(set(case.values.get("doctors", ())) - {act.data["doctor"]}))
