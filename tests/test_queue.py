"""The work queue: for each actor, exactly the doctors on whom it has something to do now.

The reference answer is brute force: for every doctor of the cycle, ask
``engine.allowed`` and keep the doctor if one of the allowed events is a to-do
of the doctor's state.  The queue (indexed SQL, pages, time and flag gating)
must give the same doctors with the same events, on every backend.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import (
    A1,
    A2,
    CITY,
    COUNTY,
    EXAM,
    H1,
    H2,
    PROVINCE,
    at,
    doctor,
    doctor_cmd,
    make_engine,
    register,
    to_testing,
)

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.machines import compiled
from renew_fsm.queue import todo_steps

H3 = Actor("institution", "H3")
MACHINE = compiled("doctor")


def todo(role: str, province: bool = False) -> dict[str, set[str]]:
    return {state: {s.event for s in steps} for state, steps in todo_steps(MACHINE, role, province).items()}


# -- what the machine says is a to-do ----------------------------------------------------------------


def test_an_institution_reviews_details_programs_exemptions_deferrals_and_enrols_its_doctors() -> None:
    assert todo("institution") == {
        "not_enrolled": {"enroll"},
        "info_submitted": {"approve_info", "reject_info"},
        "registered": {"approve_assistance"},
        "simple.submitted": {"approve_program", "reject_program", "approve_assistance"},
        "simple.institution_approved": {"approve_assistance"},
        "simple.testing": {"approve_assistance"},
        "simple.exemption.applied": {"approve_exemption", "reject_exemption"},
        "general.submitted": {"approve_program", "reject_program", "approve_assistance"},
        "general.institution_approved": {"approve_assistance"},
        "general.testing": {"approve_assistance"},
        "general.exemption.applied": {"approve_exemption", "reject_exemption"},
        "deferral.requested": {"approve_deferral", "reject_deferral"},
    }


def test_an_agency_confirms_registrations_programs_exemptions_and_grades() -> None:
    assert todo("agency") == {
        "info_approved": {"confirm_registration", "reject_registration"},
        "simple.institution_approved": {"confirm_program", "return_program", "refuse_simple"},
        "general.institution_approved": {"confirm_program", "return_program"},
        "simple.exemption.institution_approved": {"approve_exemption", "reject_exemption"},
        "general.exemption.institution_approved": {"approve_exemption", "reject_exemption"},
        "simple.awaiting_grade": {"grade"},
        "general.awaiting_grade": {"grade"},
        "appeal.requested": {"uphold_appeal", "dismiss_appeal", "correct_score"},  # art. 24: the agency answers
        "reexam.listed": {"confirm_program"},  # confirms the institution's fresh evaluation in the re-exam
    }


def test_an_admin_decides_deferrals_suspends_and_grades_the_reexam_and_only_the_province_lists_it() -> None:
    county = {
        "deferral.institution_approved": {"approve_deferral", "reject_deferral"},
        "unqualified": {"suspend"},
        "reexam.awaiting_grade": {"grade"},
        "appeal.requested": {"uphold_appeal", "dismiss_appeal", "correct_score"},  # once the agency let 30 days pass
    }
    assert todo("admin") == county
    assert todo("admin", province=True) == {**county, "reexam.suspended": {"confirm_reexam"}}


def test_a_doctor_confirms_details_chooses_a_program_may_apply_for_exemption_and_resumes() -> None:
    assert todo("doctor") == {
        "enrolled": {"submit_info"},
        "registered": {"choose_simple", "choose_general"},
        "simple.testing": {"apply_exemption"},
        "general.testing": {"apply_exemption"},
        "deferred": {"resume"},
        "unqualified": {"request_appeal"},  # within 30 days of the result
    }
    assert todo("exam_system") == {s: {"record_score"} for s in ("simple.testing", "general.testing", "reexam.listed")}


def test_options_and_corrections_available_everywhere_are_not_to_dos() -> None:
    everything = {e for role in ("doctor", "institution", "agency", "admin") for s in todo(role).values() for e in s}
    everything |= {e for s in todo("admin", province=True).values() for e in s}
    for option in (
        "request_deferral",
        "admin_exit",
        "admin_rechoose",
        "discipline",
        "mark_suspected",
        "unmark_suspected",
        "request_assistance",
        "cancel_enrollment",
        "close_first_round",
        "record_violation",
        "change_institution",
    ):
        assert option not in everything


# -- a province with a doctor in every kind of state ---------------------------------------------------

FIRST_ROUND = at("2021-06-02")
GRADING = at("2021-07-01")


def _doctors() -> list[dict[str, Any]]:
    cmds = []
    for n in range(1, 25):
        institution = ("H1", "H2", "H3")[n % 3]
        born = "1958-05-01" if n in (15, 16) else "1970-03-15"
        cmds.append(doctor_cmd(f"D{n:02d}", institution, born=born, serial=n))
    return cmds


def _institution(did: str) -> Actor:
    return Actor("institution", ("H1", "H2", "H3")[int(did[1:]) % 3])


def _agency(did: str) -> Actor:
    return A2 if _institution(did) == H3 else A1


def build(url: str) -> renew_fsm.Engine:
    """24 doctors across H1, H2 (agency A1, city NN) and H3 (A2, city GL), each left at another step."""
    e = make_engine(url, _doctors())

    def inst(d: str) -> Actor:
        return _institution(d)

    def ag(d: str) -> Actor:
        return _agency(d)

    # D01 stays not_enrolled.
    e.fire("D02", "enroll", inst("D02"))
    e.fire("D03", "enroll", inst("D03"))
    e.fire("D03", "submit_info", doctor("D03"))
    for d in ("D04",):
        e.fire(d, "enroll", inst(d))
        e.fire(d, "submit_info", doctor(d))
        e.fire(d, "approve_info", inst(d))
    register(e, "D05", inst("D05"), ag("D05"))
    register(e, "D06", inst("D06"), ag("D06"))
    e.fire("D06", "choose_general", doctor("D06"), {"self_evaluation": "完成本职工作"})
    register(e, "D07", inst("D07"), ag("D07"))
    e.fire("D07", "choose_simple", doctor("D07"), {"condition": "good_record_5y", "self_evaluation": "执业行为良好"})
    register(e, "D08", inst("D08"), ag("D08"))
    e.fire("D08", "choose_general", doctor("D08"), {"self_evaluation": "完成本职工作"})
    e.fire("D08", "approve_program", inst("D08"), {"work_performance": "pass", "ethics": "pass"})
    for d in ("D09", "D10", "D11", "D12"):
        to_testing(e, d, "general", inst(d), ag(d))
    e.fire("D10", "request_assistance", doctor("D10"))
    e.fire("D11", "request_assistance", doctor("D11"))
    e.fire("D11", "approve_assistance", inst("D11"))
    register(e, "D13", inst("D13"), ag("D13"))
    e.fire("D13", "request_deferral", doctor("D13"), {"reason": "进修"})
    register(e, "D14", inst("D14"), ag("D14"))
    e.fire("D14", "request_deferral", doctor("D14"), {"reason": "进修"})
    e.fire("D14", "approve_deferral", inst("D14"))
    to_testing(e, "D15", "simple", inst("D15"), ag("D15"))
    e.fire("D15", "apply_exemption", doctor("D15"), {"reason_id": "age_60"})
    to_testing(e, "D16", "simple", inst("D16"), ag("D16"))
    e.fire("D16", "apply_exemption", doctor("D16"), {"reason_id": "age_60"})
    e.fire("D16", "approve_exemption", inst("D16"))
    to_testing(e, "D17", "general", inst("D17"), ag("D17"))
    e.fire("D17", "apply_exemption", doctor("D17"), {"reason_id": "residency_training"})
    for d in ("D18", "D19"):
        to_testing(e, d, "general", inst(d), ag(d))
        e.fire(d, "record_score", EXAM, {"test": "business", "score": 70}, at=FIRST_ROUND)
        e.fire(d, "record_score", EXAM, {"test": "humanities", "score": 80}, at=FIRST_ROUND)
    for d in ("D20", "D21", "D22"):
        register(e, d, inst(d), ag(d))
        e.fire(d, "choose_general", doctor(d), {"self_evaluation": "完成本职工作"})
        e.fire(d, "approve_program", inst(d), {"work_performance": "fail", "ethics": "pass"})
        e.fire(d, "confirm_program", ag(d))
    e.fire("D21", "suspend", PROVINCE, {"months": 3}, at=GRADING)
    e.fire("D22", "suspend", PROVINCE, {"months": 3}, at=GRADING)
    e.fire("D22", "confirm_reexam", PROVINCE, at=GRADING)
    # Work failed: the re-exam is a fresh evaluation, the institution's then the agency's.
    e.fire("D22", "approve_program", inst("D22"), {"work_performance": "fail", "ethics": "pass"}, at=at("2021-11-10"))
    e.fire("D22", "confirm_program", ag("D22"), at=at("2021-11-10"))
    to_testing(e, "D23", "general", inst("D23"), ag("D23"))
    e.fire("D23", "mark_suspected", ag("D23"), at=FIRST_ROUND)
    # D24 stays not_enrolled too.
    return e


ACTORS = [
    H1,
    H2,
    H3,
    A1,
    A2,
    PROVINCE,
    CITY,
    COUNTY,
    Actor("admin", "GL"),
    Actor("admin", "GL-XF"),
    EXAM,
    *(doctor(f"D{n:02d}") for n in (2, 5, 9, 13, 15, 24)),
]
MOMENTS = {
    "registration": at("2021-04-20"),
    "first round": FIRST_ROUND,
    "grading": GRADING,
    "re-exam": at("2021-11-20"),
    "after the cycle": at("2022-03-01"),
}


def reference(e: renew_fsm.Engine, actor: Actor, when: dt.datetime) -> list[tuple[str, tuple[str, ...]]]:
    """Brute force: every doctor, ``allowed`` asked one by one, kept when a to-do event is allowed."""
    province = e.world().is_province(actor)
    steps = todo(actor.role, province)
    out = []
    for did in e.instances():
        state = e.state(did).state
        allowed = [ev for ev in e.allowed(did, actor, at=when) if ev in steps.get(state, set())]
        if allowed:
            out.append((did, tuple(allowed)))
    return out


def walk(e: renew_fsm.Engine, actor: Actor, when: dt.datetime, page_size: int, **kw: Any) -> list[Any]:
    items, after, pages = [], None, 0
    while True:
        page = e.work_queue(actor, at=when, page_size=page_size, after=after, **kw)
        assert len(page.items) <= page_size
        items += page.items
        pages += 1
        assert pages < 100
        if page.next is None:
            return items
        after = page.next


@pytest.fixture
def province(url: str) -> renew_fsm.Engine:
    e = build(url)
    yield e
    e.close()


def test_every_actors_queue_is_exactly_what_allowed_says_at_every_moment(province: renew_fsm.Engine) -> None:
    seen_states: set[str] = set()
    for moment, when in MOMENTS.items():
        for actor in ACTORS:
            want = reference(province, actor, when)
            for size in (50, 2):
                got = walk(province, actor, when, size)
                assert [(i.doctor, set(i.events)) for i in got] == [(d, set(ev)) for d, ev in want], (moment, actor)
            seen_states |= {i.state for i in got}
    # The province really has something in every kind of queue state (the test is not vacuous).
    assert {
        "not_enrolled",
        "info_submitted",
        "info_approved",
        "registered",
        "general.submitted",
        "simple.submitted",
        "general.institution_approved",
        "general.testing",
        "deferral.requested",
        "deferral.institution_approved",
        "simple.exemption.applied",
        "simple.exemption.institution_approved",
        "general.exemption.applied",
        "general.awaiting_grade",
        "unqualified",
        "reexam.suspended",
        "reexam.awaiting_grade",
    } <= seen_states


def test_an_institution_sees_its_own_doctors_waiting_for_it(province: renew_fsm.Engine) -> None:
    page = province.work_queue(H1, at=at("2021-04-20"))
    assert all(item.institution == "H1" for item in page.items)
    by_doctor = {i.doctor: (i.state, i.events) for i in page.items}
    assert by_doctor["D03"] == ("info_submitted", ("approve_info", "reject_info"))
    assert by_doctor["D06"][0] == "general.submitted"
    assert by_doctor["D15"] == ("simple.exemption.applied", ("approve_exemption", "reject_exemption"))
    assert "D12" not in by_doctor  # general.testing without a request: nothing for H1 to do


def test_enrolment_is_a_to_do_only_while_registration_is_open(province: renew_fsm.Engine) -> None:
    assert "D24" in [i.doctor for i in province.work_queue(H1, at=at("2021-05-28")).items]
    assert "D24" not in [i.doctor for i in province.work_queue(H1, at=at("2021-05-29")).items]


def test_grading_is_a_to_do_only_inside_the_grading_window(province: renew_fsm.Engine) -> None:
    def graded(when: dt.datetime) -> list[str]:
        return [i.doctor for i in province.work_queue(A1, at=when, states=["general.awaiting_grade"]).items]

    assert graded(FIRST_ROUND) == []
    assert graded(GRADING) == ["D18", "D19"]


def test_an_assistance_request_waits_for_the_institution_until_it_agrees(province: renew_fsm.Engine) -> None:
    def waiting(actor: Actor) -> dict[str, tuple[str, ...]]:
        return {i.doctor: i.events for i in province.work_queue(actor, at=FIRST_ROUND).items}

    assert "D11" not in waiting(_institution("D11"))  # asked and already agreed to
    assert waiting(_institution("D10"))["D10"] == ("approve_assistance",)
    province.fire("D10", "approve_assistance", _institution("D10"), at=FIRST_ROUND)
    assert "D10" not in waiting(_institution("D10"))


def test_a_suspected_mark_puts_nobody_on_a_queue(province: renew_fsm.Engine) -> None:
    # D23 is marked suspected in general.testing: the mark is a notice, not a request.
    for actor in (PROVINCE, A2, Actor("admin", "GL")):
        assert "D23" not in [i.doctor for i in province.work_queue(actor, at=FIRST_ROUND).items]


def test_the_reexam_list_is_the_province_admins_and_no_one_elses(province: renew_fsm.Engine) -> None:
    def listed(actor: Actor) -> list[str]:
        return [i.doctor for i in province.work_queue(actor, at=GRADING, states=["reexam.suspended"]).items]

    assert listed(PROVINCE) == ["D21"]
    assert listed(CITY) == [] and listed(Actor("admin", "GL")) == []


def test_a_doctor_sees_only_their_own_step(province: renew_fsm.Engine) -> None:
    page = province.work_queue(doctor("D05"), at=at("2021-04-20"))
    assert [(i.doctor, set(i.events)) for i in page.items] == [("D05", {"choose_simple", "choose_general"})]
    assert province.work_queue(doctor("D03"), at=at("2021-04-20")).items == []


def test_an_admin_sees_its_region_subtree_only(province: renew_fsm.Engine) -> None:
    def queue(region: str, when: dt.datetime) -> set[str]:
        return {i.doctor for i in province.work_queue(Actor("admin", region), at=when).items}

    # D14 (deferral approved by H3) and D20 (unqualified, H3) wait for Guilin's authorities.
    assert queue("GL-XF", GRADING) == queue("GL", GRADING) == {"D14", "D20"}
    assert queue("NN", GRADING) == set() and {"D14", "D20"} <= queue("GX", GRADING)
    # D22's re-exam (H2, county NN-XN) is graded by its county, its city or the province, not by NN-QX.
    assert "D22" in queue("NN-XN", at("2021-11-20")) and "D22" in queue("NN", at("2021-11-20"))
    assert "D22" not in queue("NN-QX", at("2021-11-20"))


def test_filtering_by_state_and_paging(province: renew_fsm.Engine) -> None:
    when = at("2021-04-20")
    everything = walk(province, PROVINCE, GRADING, 50)
    one_by_one = walk(province, PROVINCE, GRADING, 1)
    assert [i.doctor for i in everything] == [i.doctor for i in one_by_one]
    assert [i.doctor for i in everything] == sorted(i.doctor for i in everything)
    only = province.work_queue(A1, at=when, states=["info_approved"])
    assert [i.state for i in only.items] == ["info_approved"]
    assert province.work_queue(A1, at=when, states=["qualified"]).items == []


def test_refusals(province: renew_fsm.Engine) -> None:
    with pytest.raises(Refused) as bad_state:
        province.work_queue(H1, states=["nowhere"])
    assert bad_state.value.code == "bad_input"
    for actor in (Actor("agency", "A9"), Actor("institution", "H9"), Actor("admin", "XX")):
        with pytest.raises(Refused) as missing:
            province.work_queue(actor)
        assert missing.value.code == "not_found"
    for not_an_actor in (Actor("janitor", "x"), "H1", {"role": "institution", "id": "H1"}, None):
        with pytest.raises(Refused) as role:
            province.work_queue(not_an_actor)  # type: ignore[arg-type]
        assert role.value.code == "bad_input"
    with pytest.raises(Refused) as size:
        province.work_queue(H1, page_size=0)
    assert size.value.code == "bad_input"


def test_sqlite_reads_the_same_page_along_either_index(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two SQLite plans (the jurisdiction's doctors, or the to-do states) must give the same pages."""
    from renew_fsm.storage import planner

    e = build(str(tmp_path / "plans.db"))
    answers = []
    for doctors_first in (True, False):
        monkeypatch.setattr(planner, "jurisdiction_is_smaller", lambda *a, _v=doctors_first: _v)
        answers.append(
            {
                (str(actor), moment, size): [(i.doctor, i.events) for i in walk(e, actor, when, size)]
                for actor in (H1, H3, A1, A2, CITY, COUNTY)
                for moment, when in MOMENTS.items()
                for size in (1, 50)
            }
        )
    e.close()
    assert answers[0] == answers[1]
    assert sum(len(v) for v in answers[0].values()) > 50
