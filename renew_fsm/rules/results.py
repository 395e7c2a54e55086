"""What a doctor's record says about the tests: passed, failed, taken part, what the re-exam covers.

Guards, conditions and effects all judge results the same way, so the
judgement lives here once (pure functions of the instance and the policy).
"""

from __future__ import annotations

from ..model import Instance
from .policy import Policy
from .verdict import add_months

BEST = {"humanities": "humanities_best", "business": "business_best"}
ATTEMPTS = {"humanities": "humanities_attempts", "business": "business_attempts"}
#: The unqualified reason a failed test gives.
TEST_REASON = {"humanities": "humanities", "business": "business_level"}

#: What a re-exam may re-assess: a test, or a fresh work-performance and ethics evaluation.
REEXAM_ITEMS = ("business", "humanities", "evaluation")
#: The flag of an item still due in the re-exam (cleared once it is sat or evaluated).
DUE = {item: f"reexam_{item}" for item in REEXAM_ITEMS}
DUE_FLAGS = frozenset(DUE.values())
#: Set when a re-exam item is failed; the grade then cancels the registration.
FAILED = "reexam_failed"
#: Set between the institution's fresh evaluation and the agency's confirmation.
EVALUATED = "reexam_evaluated"
#: Working flags of the re-exam, gone once it has a result.
REEXAM_WORK = DUE_FLAGS | {FAILED, EVALUATED}
#: Results a person judged (the evaluation, a finding): the re-exam evaluates the doctor afresh.
EVALUATION_REASONS = frozenset({"work_performance", "ethics", "violation"})


def program_test(inst: Instance) -> str:
    """The test a program sits; a doctor with no program sits the general one."""
    return "humanities" if inst.program == "simple" else "business"


def program_tests(inst: Instance) -> tuple[str, ...]:
    """The program's tests, business first (the manual names it first in the general program)."""
    return ("humanities",) if inst.program == "simple" else ("business", "humanities")


def test_passed(inst: Instance, policy: Policy, test: str, license: str) -> bool:
    """Exempted, or the best attempt reaches the line (a score equal to the line passes)."""
    if f"{test}_exempt" in inst.flags:
        return True
    best = getattr(inst, BEST[test])
    return best is not None and best >= policy.pass_line(test, license)


def took_part(inst: Instance) -> bool:
    """附件2: 缺考 is 未参加本周期首轮考核 — one recorded attempt of any test is taking part."""
    return inst.humanities_attempts > 0 or inst.business_attempts > 0


def unfinished_reason(inst: Instance, policy: Policy, license: str) -> str:
    """The reason of a doctor a window closed on: ``absent`` with no attempt at all, else the first
    test failed or not passed (business, then humanities)."""
    if not took_part(inst):
        return "absent"
    for test in program_tests(inst):
        if not test_passed(inst, policy, test, license):
            return TEST_REASON[test]
    return TEST_REASON[program_test(inst)]


def reexam_items(inst: Instance, policy: Policy, license: str) -> tuple[str, ...]:
    """What the re-exam re-assesses: what failed.

    - a failed work-performance or ethics evaluation, or an art. 27 violation (a conduct finding):
      a fresh evaluation by the institution, confirmed by the agency;
    - a discipline finding (the tests it was made in do not count): every test of the program
      the doctor was not exempted from;
    - otherwise (a test failed, an absence): each test of the program not passed.

    Never empty: a doctor with nothing left to fail sits the program's test.
    """
    if inst.reason in EVALUATION_REASONS:
        return ("evaluation",)
    voided = inst.reason == "discipline"
    tests = tuple(
        t
        for t in program_tests(inst)
        if f"{t}_exempt" not in inst.flags and (voided or not test_passed(inst, policy, t, license))
    )
    return tests or (program_test(inst),)


def reexam_started(inst: Instance) -> bool:
    """The doctor sat a re-exam test or was evaluated afresh."""
    if inst.reexam_attempts > 0:
        return True
    return inst.reason in EVALUATION_REASONS and DUE["evaluation"] not in inst.flags


def reexam_reason(inst: Instance) -> str:
    """The reason a re-exam that ended without passing gives.

    A failed item keeps the reason the re-exam was about; a doctor who sat part of it is judged on
    the first test left unsat; one who sat nothing of it keeps the result they were listed with —
    ``absent`` only if that was it (no recorded attempt in the cycle: 附件2's 缺考 is about taking part,
    and a doctor who sat the first round took part).
    """
    if FAILED not in inst.flags and reexam_started(inst):
        for item in ("business", "humanities"):
            if DUE[item] in inst.flags:
                return TEST_REASON[item]
    return inst.reason or TEST_REASON[program_test(inst)]


def suspension_in_time(inst: Instance, policy: Policy) -> bool:
    """Art. 26: the suspension is over by the re-exam window's last day, so the doctor can sit it (a
    doctor may sit on the day the suspension ends).  A doctor listed by an upheld appeal has a 0-month
    suspension from the day of listing: in time if listed by that last day."""
    if inst.suspended_on is None or inst.suspension_months is None:
        return True
    return add_months(inst.suspended_on, inst.suspension_months) <= policy.windows.reexam.end
