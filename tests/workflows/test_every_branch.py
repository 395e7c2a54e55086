"""Every branch of every workflow machine, walked through the real engine on every backend.

The branches are read from the compiled machine (``compiled(m).steps``: leaf × event, STAY
branches included), so a transition added to a workflow file is covered here without
editing this test — only a new *event* needs a witness below (who fires it, with what
data; the test names the missing one).  For each branch the shortest path of events from
the initial state to its leaf is found in the machine's graph, every step is fired with
its witness at a case of its own, and each must land where the definition says.  The same
for every simple path from the initial state to each final state.

(The doctor's machine and its re-exam part are walked by ``tests/reliability``.)
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import H1, REGISTRATION_DAY, WORLD, doctor, doctor_cmd, register, to_testing

import renew_fsm
from renew_fsm import Actor
from renew_fsm.machines import CASE_MACHINES, compiled
from renew_fsm.machines.compile import Compiled
from renew_fsm.verify import verify

CITY = Actor("admin", "NN")
COUNTY = Actor("admin", "NN-QX")
SYSTEM = Actor("system")

#: Per machine: the subject of a fresh case, and per event (actor, data).  An agency application is
#: its institution's, so each case gets an institution of its own (``CASE``), and an institution of
#: its own to assign (``TARGET``); ``designate_agency`` makes that institution an industry organisation.
CASE, TARGET = "<case>", "<target>"
SUBJECTS = {"agency_application": CASE, "info_change": "D1", "account": f"institution:{CASE}", "export_request": "NN"}
WITNESSES: dict[str, dict[str, tuple[Actor, dict[str, Any]]]] = {
    "agency_application": {
        "allow_application": (CITY, {}),
        "disallow_application": (CITY, {"opinion": "暂不开通"}),
        "apply_agency": (Actor("institution", CASE), {"materials": "申请材料"}),
        "approve_agency": (CITY, {}),
        "reject_agency": (CITY, {"reason": "材料不全"}),
        "designate_agency": (CITY, {}),
        "assign_institution": (CITY, {"institution": TARGET}),
        "withdraw_institution": (CITY, {"institution": TARGET}),
    },
    "info_change": {
        "request_change": (doctor(), {"reason": "信息有误"}),
        "allow_change": (H1, {}),
        "deny_change": (H1, {"reason": "无需修改"}),
        "submit_change": (doctor(), {"phone": "13900000000"}),
        "approve_change": (H1, {}),
        "reject_change": (H1, {"reason": "不符"}),
    },
    "account": {
        "create_account": (COUNTY, {"name": "青秀区人民医院"}),
        "activate_account": (COUNTY, {}),
        "delete_account": (COUNTY, {}),
        "change_password": (Actor("account", "-"), {}),  # through Engine.change_password
        "reset_password": (COUNTY, {}),
        "edit_account": (COUNTY, {"name": "青秀区人民医院管理员"}),
        "deactivate_account": (COUNTY, {"reason": "机构撤并"}),
    },
    "export_request": {
        "request_export": (CITY, {}),
        "produce_export": (SYSTEM, {}),
        "download_export": (CITY, {}),
    },
}
#: The organisations' own records (``renew_fsm.records``): their case ids name what they are about.
PROVINCE_OF_CASE = Actor("admin", CASE)
REASON = {"reason_id": f"r-{CASE}"}
PHOTO = {"ref": f"oss://proctoring/{CASE}.jpg", "at": "2021-06-02T09:00:00+08:00"}
MEMBERS = [{"name": "张三", "post": "主任"}]
WITNESSES |= {
    "proctoring": {
        "submit_photos": (Actor("exam_system"), {"test": "business", "attempt": 1, "similarity": 80, "photos": [PHOTO]})
    },
    "cycle_settings": {
        "set_policy": (PROVINCE_OF_CASE, {"name": "guangxi-2019-2020"}),
        "add_exemption_reason": (PROVINCE_OF_CASE, {**REASON, "text": "高级职称"}),
        "edit_exemption_reason": (PROVINCE_OF_CASE, {**REASON, "text": "副高级以上职称"}),
        "open_exemption_reason": (PROVINCE_OF_CASE, REASON),
        "close_exemption_reason": (PROVINCE_OF_CASE, REASON),
        "delete_exemption_reason": (PROVINCE_OF_CASE, REASON),
    },
    "organisation": {
        "edit_organisation": (CITY, {"address": "民族大道1号"}),
        "save_committee": (CITY, {"members": MEMBERS}),
        "save_office": (CITY, {"members": MEMBERS}),
        "confirm_cycle": (Actor("institution", CASE), {}),
    },
    "agency_revocation": {"revoke_agency": (CITY, {"reason": "资质不符"})},
    "department": {
        "create_department": (H1, {"name": f"科室{CASE}", "parent": "H1/root"}),
        "edit_department": (H1, {"intro": "介绍"}),
        "place_doctor": (H1, {"doctor": f"{CASE}-D"}),
        "remove_doctor": (H1, {"doctor": f"{CASE}-D"}),
        "delete_department": (H1, {}),
    },
}
#: Events that need a step first: withdrawing needs an assigned institution.
PREPARE = {
    ("agency_application", "withdraw_institution"): ["assign_institution"],
    **{("cycle_settings", f"{verb}_exemption_reason"): ["add_exemption_reason"] for verb in ("edit", "open", "close")},
    ("cycle_settings", "delete_exemption_reason"): ["add_exemption_reason"],
    ("department", "remove_doctor"): ["place_doctor"],
}


def place(e: renew_fsm.Engine, machine: str, case_id: str, events: list[str]) -> tuple[str, str] | None:
    """What a case of these machines is about, set up: (its id, its subject); ``None`` for the others."""
    if machine == "proctoring":  # the photos of D2's scored business attempt
        if not e.state("D2").state.endswith("awaiting_grade"):
            e.fire("D2", "record_score", Actor("exam_system"), {"test": "business", "score": 80}, at=PHOTO_DAY)
        return "D2/business/1", "D2"
    if machine == "cycle_settings":
        e.apply({"op": "region", "id": case_id, "level": "province", "name": case_id})
        return case_id, case_id
    if machine == "organisation":
        if {"save_committee", "save_office"} & set(events):
            e.apply({"op": "region", "id": case_id, "level": "county", "parent": "NN", "name": case_id})
            return f"admin:{case_id}", f"admin:{case_id}"
        e.apply({"op": "institution", "id": case_id, "region": "NN-QX", "name": case_id})
        return f"institution:{case_id}", f"institution:{case_id}"
    if machine == "agency_revocation":
        e.apply({"op": "agency", "id": case_id, "region": "NN-QX", "name": case_id})
        return case_id, case_id
    if machine == "department":
        if e.storage.load_case("department", "H1/root") is None:
            e.case_fire("department", "H1/root", "create_department", H1, {"name": "内科"}, subject="H1")
        # Each case's doctor is a person of their own: one id-card number per doctor in the store.
        e.apply(doctor_cmd(f"{case_id}-D", serial=next(SERIALS)))
        return f"H1/{case_id}", "H1"
    return None


#: Id-card serials of the doctors placed in department cases, clear of D1 and D2 (serials 1 and 2).
SERIALS = itertools.count(100)
PHOTO_DAY = dt.datetime.fromisoformat("2021-06-02T10:00:00+08:00")


def shortest_paths(m: Compiled) -> dict[str, list[str]]:
    """Leaf → the events of a shortest path to it from the initial state (guards aside)."""
    start = m.graph.initial
    paths = {start: []}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for event, steps in m.steps[here].items():
            for step in steps:
                there = step.target or here
                if there not in paths:
                    paths[there] = [*paths[here], event]
                    queue.append(there)
    return paths


def simple_paths(m: Compiled) -> Iterator[list[str]]:
    """Every path from the initial state to a final state that visits no state twice."""

    def walk(here: str, seen: frozenset[str], events: list[str]) -> Iterator[list[str]]:
        if m.graph.nodes[here].final:
            yield events
        for event, steps in m.steps[here].items():
            for step in steps:
                if step.target is not None and step.target not in seen:
                    yield from walk(step.target, seen | {step.target}, [*events, event])

    start = m.graph.initial
    yield from walk(start, frozenset({start}), [])


@pytest.fixture
def e(url: str) -> renew_fsm.Engine:
    """The small province with D1 registered (an information change needs it) and D2 at the tests."""
    engine = renew_fsm.open(url)
    for cmd in [*WORLD, doctor_cmd("D1"), doctor_cmd("D2", serial=2), {"op": "clock", "at": REGISTRATION_DAY}]:
        engine.apply(cmd)
    register(engine, "D1")
    to_testing(engine, "D2")
    return engine


class Walker:
    """Fires a path of events at a case of its own, checking each lands where the definition says."""

    def __init__(self, e: renew_fsm.Engine, machine: str):
        self.e, self.machine, self.m = e, machine, compiled(machine)
        self.secrets: dict[str, str] = {}
        self.changes = 0
        self.fired: set[tuple[str, str]] = set()

    def walk(self, case_id: str, events: list[str]) -> str:
        """Walk ``events`` at a case of its own; the case's id."""
        placed = place(self.e, self.machine, case_id, events)
        if self.machine == "agency_application":
            kind = "industry_org" if "designate_agency" in events else "institution"
            self.e.apply({"op": "institution", "id": case_id, "region": "NN-XN", "name": case_id, "kind": kind})
            self.e.apply({"op": "institution", "id": f"{case_id}-T", "region": "NN-QX", "name": f"{case_id}-T"})
        if self.machine == "account":  # one account per holder: each case its own institution
            self.e.apply({"op": "institution", "id": case_id, "region": "NN-QX", "name": case_id})
        subject = placed[1] if placed else SUBJECTS[self.machine].replace(CASE, case_id)
        real = placed[0] if placed else case_id
        state = self.m.graph.initial
        for event in events:
            witness = WITNESSES[self.machine].get(event)
            assert witness is not None, f"{self.machine}: no witness for {event!r}: add one to WITNESSES"
            steps = self.m.steps[state][event]
            assert len(steps) == 1, f"{self.machine}: {event} branches in {state}; teach this test to steer it"
            expect = steps[0].target or state
            view = self.fire(case_id, event, witness, subject, real)
            assert view.state == expect, (self.machine, case_id, events, event)
            self.fired.add((state, event))
            state = expect
        return real

    def fire(self, case_id: str, event: str, witness: tuple[Actor, dict[str, Any]], subject: str, real: str) -> Any:
        actor, data = witness
        actor = Actor(actor.role, (actor.id or "").replace(CASE, case_id) or None)
        data = {
            k: v.replace(TARGET, f"{case_id}-T").replace(CASE, case_id) if isinstance(v, str) else v
            for k, v in data.items()
        }
        if event == "change_password":
            self.changes += 1
            new = f"new secret for {case_id} #{self.changes}"
            view = self.e.change_password(case_id, self.secrets[case_id], new)
            self.secrets[case_id] = new
            return view
        view = self.e.case_fire(self.machine, real, event, actor, data, subject=subject)
        if view.secret is not None:
            self.secrets[case_id] = view.secret
        return view


@pytest.mark.parametrize("machine", sorted(CASE_MACHINES))
def test_every_branch_lands_where_the_definition_says(e: renew_fsm.Engine, machine: str) -> None:
    walker = Walker(e, machine)
    m = walker.m
    paths = shortest_paths(m)
    branches = [(leaf, event) for leaf, events in m.steps.items() for event in events]
    unreachable = [b for b in branches if b[0] not in paths]
    assert not unreachable, f"{machine}: no path reaches {unreachable}"
    for n, (leaf, event) in enumerate(branches):
        walker.walk(f"{machine[:2]}{n}", [*paths[leaf], *PREPARE.get((machine, event), []), event])
    assert walker.fired >= set(branches), set(branches) - walker.fired
    print(f"\n{machine}: {len(branches)}/{len(branches)} branches walked")
    assert verify(e).ok


@pytest.mark.parametrize("machine", sorted(CASE_MACHINES))
def test_every_final_state_by_every_simple_path(e: renew_fsm.Engine, machine: str) -> None:
    walker = Walker(e, machine)
    finals: set[str] = set()
    for n, events in enumerate(simple_paths(walker.m)):
        real = walker.walk(f"p{n}", events)
        finals.add(e.case_state(machine, real).state)
    assert finals == set(walker.m.graph.finals())
    assert verify(e).ok
