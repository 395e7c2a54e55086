"""医师信息修改: the doctor asks, the institution allows, the doctor edits, the institution approves
(the registry profile changes) or rejects; name and id-card number never change this way."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import A1, CITY, EXAM, H1, H2, at, doctor, register, to_testing

import renew_fsm
from renew_fsm import Refused
from renew_fsm.verify import verify

IC = "info_change"


def code(call) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code, refused.value.rule


def allowed_to_edit(e: renew_fsm.Engine, case: str = "IC1") -> None:
    e.case_fire(IC, case, "request_change", doctor(), {"reason": "执业范围填写有误"}, subject="D1")
    e.case_fire(IC, case, "allow_change", H1)


def test_the_change_from_request_to_the_registry(engine: renew_fsm.Engine) -> None:
    register(engine)
    assert engine.case_fire(IC, "IC1", "request_change", doctor(), subject="D1").state == "requested"
    assert code(lambda: engine.case_fire(IC, "IC1", "allow_change", H2)) == ("forbidden", None)
    assert code(lambda: engine.case_fire(IC, "IC1", "allow_change", A1)) == ("forbidden", None)
    assert engine.case_fire(IC, "IC1", "allow_change", H1).state == "editing"
    view = engine.case_fire(IC, "IC1", "submit_change", doctor(), {"practice_scope": "内科", "phone": "13900000000"})
    assert (view.state, view.data["changes"]) == ("submitted", {"phone": "13900000000", "practice_scope": "内科"})
    assert engine.storage.get_doctor("D1").profile == {}  # type: ignore[union-attr]
    assert engine.case_fire(IC, "IC1", "approve_change", H1, {"opinion": "核实无误"}).state == "approved"
    assert engine.storage.get_doctor("D1").profile == {"phone": "13900000000", "practice_scope": "内科"}  # type: ignore[union-attr]
    records = engine.case_history(IC, "IC1")
    assert [(r.event, r.role, r.actor) for r in records] == [
        ("request_change", "doctor", "D1"),
        ("allow_change", "institution", "H1"),
        ("submit_change", "doctor", "D1"),
        ("approve_change", "institution", "H1"),
    ]
    assert verify(engine).ok


def test_name_and_id_card_never_change_this_way(engine: renew_fsm.Engine) -> None:
    register(engine)
    allowed_to_edit(engine)
    doc = engine.storage.get_doctor("D1")
    assert doc is not None
    for data in ({"name": "改名"}, {"id_card": "450103197003150011"}, {"name": "改名", "phone": "1"}):
        with pytest.raises(Refused) as refused:
            engine.case_fire(IC, "IC1", "submit_change", doctor(), data)
        assert refused.value.code == "bad_input"
        assert "姓名和身份证号不可自行修改" in refused.value.message_zh
        assert "cannot be changed" in refused.value.message
    for field in ("license", "birth_date", "practice_since", "record", "institution"):
        assert code(lambda f=field: engine.case_fire(IC, "IC1", "submit_change", doctor(), {f: "x"})) == (
            "bad_input",
            None,
        )
    assert code(lambda: engine.case_fire(IC, "IC1", "submit_change", doctor(), {})) == ("bad_input", None)
    # The same name and card number may come along with a real change: they are not changes.
    same = {"name": doc.name, "id_card": doc.id_card, "title": "主治医师"}
    view = engine.case_fire(IC, "IC1", "submit_change", doctor(), same)
    assert view.data["changes"] == {"title": "主治医师"}
    assert engine.case_state(IC, "IC1").state == "submitted"


def test_only_a_doctor_registered_in_the_cycle(engine: renew_fsm.Engine) -> None:
    assert code(lambda: engine.case_fire(IC, "IC1", "request_change", doctor(), subject="D1")) == (
        "guard_failed",
        "not_eligible",
    )
    engine.fire("D1", "enroll", H1)
    engine.fire("D1", "submit_info", doctor())
    assert code(lambda: engine.case_fire(IC, "IC1", "request_change", doctor(), subject="D1")) == (
        "guard_failed",
        "not_eligible",
    )
    assert engine.cases(IC) == []
    engine.fire("D1", "approve_info", H1)
    engine.fire("D1", "confirm_registration", A1)
    allowed_to_edit(engine)
    engine.case_fire(IC, "IC1", "submit_change", doctor(), {"phone": "1"})
    engine.fire("D1", "admin_exit", CITY, {"reason": "退出"})  # out of the cycle before the approval
    assert code(lambda: engine.case_fire(IC, "IC1", "approve_change", H1)) == ("guard_failed", "not_eligible")


def test_refused_and_rejected_requests_end_there(engine: renew_fsm.Engine) -> None:
    register(engine)
    engine.case_fire(IC, "IC1", "request_change", doctor(), subject="D1")
    assert code(lambda: engine.case_fire(IC, "IC1", "deny_change", H1)) == ("bad_input", None)
    assert engine.case_fire(IC, "IC1", "deny_change", H1, {"reason": "无需修改"}).state == "denied"
    allowed_to_edit(engine, "IC2")
    engine.case_fire(IC, "IC2", "submit_change", doctor(), {"phone": "1"})
    view = engine.case_fire(IC, "IC2", "reject_change", H1, {"reason": "与证书不符"})
    assert (view.state, view.data["reason"]) == ("rejected", "与证书不符")
    assert engine.storage.get_doctor("D1").profile == {}  # type: ignore[union-attr]
    assert code(lambda: engine.case_fire(IC, "IC2", "approve_change", H1)) == ("invalid_transition", None)
    assert code(lambda: engine.case_fire(IC, "IC3", "request_change", doctor("D2"), subject="D1")) == (
        "forbidden",
        None,
    )
    assert code(lambda: engine.case_fire(IC, "IC4", "request_change", doctor(), subject="D404")) == (
        "not_found",
        None,
    )
    assert code(lambda: engine.case_fire(IC, "IC5", "request_change", doctor())) == ("bad_input", None)  # no subject
    assert code(lambda: engine.case_fire(IC, "IC1", "allow_change", H1, subject="D2")) == ("bad_input", None)


def test_a_wrong_licence_is_corrected_before_the_tests_and_the_pass_line_follows(engine: renew_fsm.Engine) -> None:
    """Issue 30 (9): the manual keeps only 姓名 and 身份证号 out of 信息修改; the licence is a practice detail."""
    register(engine)
    allowed_to_edit(engine)
    view = engine.case_fire(
        IC,
        "IC1",
        "submit_change",
        doctor(),
        {"license": "assistant", "practice_category": "dental", "license_no": "210450100003512", "title": "主治医师"},
    )
    assert view.data["changes"]["license"] == "assistant"
    engine.case_fire(IC, "IC1", "approve_change", H1, {"opinion": "核实无误"})
    doc = engine.storage.get_doctor("D1")
    assert (doc.license, doc.practice_category, doc.license_no) == ("assistant", "dental", "210450100003512")
    assert doc.profile == {"title": "主治医师"}  # the registry fields go to their columns, not the profile
    # 55 passes an assistant (it would fail a physician, line 60).
    engine.fire("D1", "choose_general", doctor(), {"self_evaluation": "完成本职工作"})
    engine.fire("D1", "approve_program", H1, {"work_performance": "pass", "ethics": "pass"})
    engine.fire("D1", "confirm_program", A1)
    day = at("2021-06-02")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 55}, at=day)
    engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 80}, at=day)
    assert engine.fire("D1", "grade", A1, at=at("2021-06-30")).state == "qualified"
    assert verify(engine).ok


def test_the_registry_fields_are_checked_like_the_registry_checks_them(engine: renew_fsm.Engine) -> None:
    register(engine)
    allowed_to_edit(engine)
    for data in ({"license": "surgeon"}, {"sex": "M"}, {"practice_category": "surgery"}, {"license_no": ""}):
        assert code(lambda d=data: engine.case_fire(IC, "IC1", "submit_change", doctor(), d)) == ("bad_input", None)
    assert engine.case_state(IC, "IC1").state == "editing"


def test_a_licence_is_not_corrected_under_a_recorded_score(engine: renew_fsm.Engine) -> None:
    """The score was judged against the old pass line; the history replays against the registry as it is."""
    to_testing(engine)
    allowed_to_edit(engine)
    engine.case_fire(IC, "IC1", "submit_change", doctor(), {"license": "assistant"})
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 57}, at=at("2021-06-02"))
    # A score came in between the submission and the approval: the approval is refused.
    assert code(lambda: engine.case_fire(IC, "IC1", "approve_change", H1, {"opinion": "核实无误"})) == (
        "guard_failed",
        "not_eligible",
    )
    assert engine.storage.get_doctor("D1").license == "physician"
    allowed_to_edit(engine, "IC2")
    assert code(lambda: engine.case_fire(IC, "IC2", "submit_change", doctor(), {"license": "assistant"})) == (
        "guard_failed",
        "not_eligible",
    )
    # Other details may still be corrected.
    engine.case_fire(IC, "IC2", "submit_change", doctor(), {"sex": "female"})
    engine.case_fire(IC, "IC2", "approve_change", H1, {"opinion": "核实无误"})
    assert engine.storage.get_doctor("D1").sex == "female"
    assert verify(engine).ok


def test_a_licence_is_not_corrected_under_a_score_of_an_earlier_cycle(engine: renew_fsm.Engine, tmp_path: Path) -> None:
    """Every cycle's history is replayed against the registry as it is: an earlier cycle's score counts too."""
    to_testing(engine)
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 57}, at=at("2021-06-02"))
    shipped = Path(renew_fsm.__file__).parent / "rules" / "policies" / "guangxi-2019-2020.toml"
    later = tmp_path / "next.toml"
    later.write_text(shipped.read_text(encoding="utf-8").replace('id = "guangxi-2019-2020"', 'id = "next-cycle"'))
    engine.apply({"op": "policy", "file": str(later)})
    assert engine.cycle == "next-cycle"
    register(engine)
    allowed_to_edit(engine)
    assert code(lambda: engine.case_fire(IC, "IC1", "submit_change", doctor(), {"license": "assistant"})) == (
        "guard_failed",
        "not_eligible",
    )
    assert engine.storage.get_doctor("D1").license == "physician"
    assert verify(engine).ok
