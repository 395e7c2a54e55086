"""申请考核机构 and 指定卫生机构: an institution becomes an agency, and an agency acts exactly on the
institutions assigned to it, from the moment of assignment until it is withdrawn."""

from __future__ import annotations

import pytest
from conftest import CITY, COUNTY, H2, PROVINCE, REGISTRATION_DAY, WORLD, doctor, doctor_cmd

import renew_fsm
from renew_fsm import Actor, Refused
from renew_fsm.verify import verify
from renew_fsm.workflows import CaseFire

APP = "agency_application"
H3 = Actor("institution", "H3")
H5 = Actor("institution", "H5")
GUILIN = Actor("admin", "GL")


EXTRA = [
    {"op": "institution", "id": "H5", "region": "NN-XN", "name": "兴宁区中医院"},
    {"op": "institution", "id": "H6", "region": "NN-QX", "name": "青秀区妇幼保健院"},
    {"op": "institution", "id": "ORG", "region": "NN", "name": "南宁市医师协会", "kind": "industry_org"},
]


@pytest.fixture
def e(url: str) -> renew_fsm.Engine:
    """The small province plus H5 (NN-XN) and H6 (NN-QX), assigned to no agency, and the industry
    organisation ORG (NN); D5 at H5 and D6 at H6."""
    engine = renew_fsm.open(url)
    doctors = [doctor_cmd("D5", "H5", serial=5), doctor_cmd("D6", "H6", serial=6)]
    for cmd in [*WORLD, *EXTRA, *doctors, {"op": "clock", "at": REGISTRATION_DAY}]:
        engine.apply(cmd)
    return engine


def code(call) -> tuple[str, str | None]:
    with pytest.raises(Refused) as refused:
        call()
    return refused.value.code, refused.value.rule


def fire(e: renew_fsm.Engine, case: str, event: str, actor: Actor, data: dict | None = None) -> str:
    return e.case_fire(APP, case, event, actor, data).state


def to_agency(e: renew_fsm.Engine, institution: str = "H2", admin: Actor = CITY) -> None:
    fire(e, institution, "allow_application", admin)
    fire(e, institution, "apply_agency", Actor("institution", institution), {"materials": "考核机构申请材料.pdf"})
    fire(e, institution, "approve_agency", admin)


def registered_up_to_agency(e: renew_fsm.Engine, did: str, institution: Actor) -> None:
    e.fire(did, "enroll", institution)
    e.fire(did, "submit_info", doctor(did))
    e.fire(did, "approve_info", institution)


def test_the_application_from_permission_to_agency(e: renew_fsm.Engine) -> None:
    assert code(lambda: fire(e, "H5", "apply_agency", H5, {"materials": "材料"})) == ("invalid_transition", None)
    assert fire(e, "H5", "allow_application", Actor("admin", "NN-XN")) == "allowed"
    assert code(lambda: fire(e, "H5", "apply_agency", H2, {"materials": "材料"})) == ("forbidden", None)
    assert code(lambda: fire(e, "H5", "apply_agency", H5)) == ("bad_input", None)  # materials are required
    assert fire(e, "H5", "apply_agency", H5, {"materials": "资质证明"}) == "applied"
    assert code(lambda: fire(e, "H5", "approve_agency", COUNTY)) == ("forbidden", None)  # NN-QX: not its county
    assert code(lambda: fire(e, "H5", "reject_agency", CITY)) == ("bad_input", None)  # a reason is required
    view = e.case_fire(APP, "H5", "reject_agency", CITY, {"reason": "材料不全"})
    assert (view.state, view.data["reason"]) == ("rejected", "材料不全")
    assert "H5" not in e.world().agencies
    assert fire(e, "H5", "apply_agency", H5, {"materials": "补充后的材料"}) == "applied"  # may apply again
    view = e.case_fire(APP, "H5", "approve_agency", PROVINCE, {"opinion": "同意"})
    assert (view.state, view.data) == ("agency", {"materials": "补充后的材料"})
    agency = e.world().agencies["H5"]
    assert (agency.region, agency.name, agency.institutions) == ("NN-XN", "兴宁区中医院", frozenset())
    assert [r.event for r in e.case_history(APP, "H5")] == [
        "allow_application",
        "apply_agency",
        "reject_agency",
        "apply_agency",
        "approve_agency",
    ]
    assert verify(e).ok


def test_an_agency_acts_on_an_assigned_institution_s_doctors_and_not_once_withdrawn(
    e: renew_fsm.Engine,
) -> None:
    to_agency(e, "H5", CITY)
    acting = Actor("agency", "H5")
    registered_up_to_agency(e, "D6", Actor("institution", "H6"))
    assert code(lambda: e.fire("D6", "confirm_registration", acting)) == ("forbidden", None)  # not yet assigned
    # NN-QX governs H6 but not the agency H5 (NN-XN): the city over both assigns.
    assert code(lambda: e.case_fire(APP, "H5", "assign_institution", COUNTY, {"institution": "H6"})) == (
        "forbidden",
        None,
    )
    view = e.case_fire(APP, "H5", "assign_institution", CITY, {"institution": "H6"})
    assert view.data["assigned"] == ["H6"]
    assert e.world().agencies["H5"].institutions == frozenset({"H6"})
    assert e.fire("D6", "confirm_registration", acting).state == "registered"  # from the moment of assignment
    e.case_fire(APP, "H5", "withdraw_institution", CITY, {"institution": "H6"})
    with pytest.raises(Refused) as refused:
        e.fire("D6", "record_violation", acting, {"finding": "kickbacks", "reason": "回扣"})
    assert refused.value.code == "forbidden"
    assert e.world().agencies["H5"].institutions == frozenset()
    assert verify(e).ok


def test_assignment_refusals(e: renew_fsm.Engine) -> None:
    to_agency(e, "H5", CITY)
    assign = lambda inst, admin=CITY: e.case_fire(APP, "H5", "assign_institution", admin, {"institution": inst})  # noqa: E731
    assert code(lambda: assign("H404")) == ("not_found", None)
    assert code(lambda: assign("H3")) == ("forbidden", None)  # Guilin's institution, Nanning's admin
    assert code(lambda: assign("H6", Actor("admin", "NN-XN"))) == ("forbidden", None)  # H6 is in NN-QX
    assert code(lambda: assign("H1")) == ("guard_failed", "not_eligible")  # A1 holds it: one agency each
    assign("H6")
    assert code(lambda: assign("H6")) == ("guard_failed", "not_eligible")
    assert code(lambda: e.case_fire(APP, "H5", "withdraw_institution", CITY, {"institution": "H1"})) == (
        "guard_failed",
        "not_eligible",
    )
    assert code(lambda: e.case_fire(APP, "H6", "assign_institution", CITY, {"institution": "H5"})) == (
        "invalid_transition",
        None,
    )


def test_an_industry_organisation_is_made_an_agency_without_applying(e: renew_fsm.Engine) -> None:
    assert code(lambda: fire(e, "ORG", "allow_application", CITY)) == ("guard_failed", "not_eligible")
    assert code(lambda: fire(e, "H5", "designate_agency", CITY)) == ("guard_failed", "not_eligible")
    assert code(lambda: fire(e, "ORG", "designate_agency", GUILIN)) == ("forbidden", None)
    assert fire(e, "ORG", "designate_agency", CITY) == "agency"
    e.case_fire(APP, "ORG", "assign_institution", CITY, {"institution": "H5"})
    assert e.world().agencies["ORG"].institutions == frozenset({"H5"})


def test_batch_permission(e: renew_fsm.Engine) -> None:
    results = e.case_fire_many(APP, [CaseFire(i, "allow_application", CITY) for i in ("H5", "H6", "H3", "ORG", "H404")])
    outcome = [r.state if not isinstance(r, Refused) else r.code for r in results]
    assert outcome == ["allowed", "allowed", "forbidden", "guard_failed", "not_found"]
    assert e.cases(APP) == ["H5", "H6"]  # a refused first command creates no case
    assert [
        r.state for r in e.case_fire_many(APP, [CaseFire(i, "disallow_application", CITY) for i in ("H5", "H6")])
    ] == ["not_allowed", "not_allowed"]


def test_the_replay_ops(e: renew_fsm.Engine) -> None:
    e.apply(
        {
            "op": "case",
            "machine": APP,
            "ids": ["H5", "H6"],
            "event": "allow_application",
            "actor": {"role": "admin", "id": "NN"},
        }
    )
    e.apply(
        {
            "op": "case",
            "machine": APP,
            "id": "H5",
            "event": "apply_agency",
            "actor": {"role": "institution", "id": "H5"},
            "data": {"materials": "材料"},
        }
    )
    assert e.case_state(APP, "H5").state == "applied"
    assert e.case_state(APP, "H6").state == "allowed"
    with pytest.raises(Refused):
        e.apply({"op": "case", "machine": APP, "event": "allow_application", "actor": {"role": "admin", "id": "NN"}})
    with pytest.raises(Refused) as unknown:
        e.apply({"op": "case", "machine": "teleport", "id": "H5", "event": "x", "actor": {"role": "admin", "id": "NN"}})
    assert unknown.value.code == "bad_input"
    with pytest.raises(Refused) as missing:
        e.case_state(APP, "H1")
    assert missing.value.code == "not_found"


def test_what_each_actor_may_do_on_an_application_now(e: renew_fsm.Engine) -> None:
    """``case_allowed`` lists the buttons of each screen, judged as ``case_fire`` judges them."""
    county = Actor("admin", "NN-XN")
    # No case yet: judged in the initial state, about its subject; only an admin over H5 may act,
    # and only by permitting (designation is for an industry organisation).
    assert e.case_allowed(APP, "H5", county) == ["allow_application"]
    assert e.case_allowed(APP, "H5", COUNTY) == []  # NN-QX: another county
    assert e.case_allowed(APP, "H5", H5) == []
    assert e.case_allowed(APP, "ORG", CITY) == ["designate_agency"]
    assert e.case_allowed(APP, "H5", county) == ["allow_application"]  # asking created nothing
    assert code(lambda: e.case_state(APP, "H5"))[0] == "not_found"

    fire(e, "H5", "allow_application", county)
    assert e.case_allowed(APP, "H5", H5) == ["apply_agency"]  # its materials are the command's to judge
    assert e.case_allowed(APP, "H5", H2) == []
    assert e.case_allowed(APP, "H5", county) == ["disallow_application"]
    fire(e, "H5", "apply_agency", H5, {"materials": "资质证明"})
    assert sorted(e.case_allowed(APP, "H5", CITY)) == ["approve_agency", "reject_agency"]
    assert e.case_allowed(APP, "H5", H5) == []
    fire(e, "H5", "approve_agency", CITY)
    # Whether an institution is assigned depends on which one the command names: both are listed,
    # and each is one the admin can fire with the right institution.
    assert sorted(e.case_allowed(APP, "H5", CITY)) == ["assign_institution", "withdraw_institution"]
    assert e.case_allowed(APP, "H5", Actor("agency", "H5")) == []
    assert fire(e, "H5", "assign_institution", CITY, {"institution": "H6"}) == "agency"
    assert fire(e, "H5", "withdraw_institution", CITY, {"institution": "H6"}) == "agency"


def test_case_allowed_refuses_what_case_fire_refuses(e: renew_fsm.Engine) -> None:
    assert code(lambda: e.case_allowed("no_such_machine", "H5", CITY))[0] == "bad_input"
    assert code(lambda: e.case_allowed(APP, "H\x00", CITY))[0] == "bad_input"
    assert code(lambda: e.case_allowed(APP, "NOPE", CITY))[0] == "not_found"
    assert e.case_allowed(APP, "H5", Actor("wizard", "X")) == []


def test_who_may_see_a_case(e: renew_fsm.Engine) -> None:
    fire(e, "H5", "allow_application", Actor("admin", "NN-XN"))
    assert e.case_may_act(APP, "H5", H5) and e.case_may_act(APP, "H5", CITY) and e.case_may_act(APP, "H5", PROVINCE)
    assert (
        not e.case_may_act(APP, "H5", H2)
        and not e.case_may_act(APP, "H5", COUNTY)
        and not e.case_may_act(APP, "H5", GUILIN)
    )
    assert not e.case_may_act(APP, "H5", Actor("wizard", "X"))
    assert code(lambda: e.case_may_act(APP, "H6", CITY))[0] == "not_found"  # no case yet
