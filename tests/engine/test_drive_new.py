"""``Engine.drive_new``: doctors added and driven in one transaction, or not at all.

That it writes what ``fire`` writes is in test_batch_agrees_with_fire; here, what it refuses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import H1, REGISTRATION_DAY, WORLD, at, doctor_cmd
from dbimage import image, settle

import renew_fsm
from renew_fsm import Fire, Refused
from renew_fsm.errors import BAD_INPUT, NOT_FOUND
from renew_fsm.model import Doctor, Instance
from renew_fsm.ops import parse as parse_op
from renew_fsm.storage import ConflictError


def enrolled(inst: Instance, doc: Doctor) -> Iterator[Fire]:
    yield Fire(doc.id, "enroll", H1, None, at("2021-04-20"))


def test_new_doctors_are_stored_driven_and_counted(url: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        engine.apply(cmd)
    ops = [parse_op(doctor_cmd(d, serial=n)) for n, d in enumerate(("D1", "D2"), 1)]
    assert engine.drive_new(ops, enrolled) == 2
    assert [engine.state(d).state for d in ("D1", "D2")] == ["enrolled", "enrolled"]
    assert engine.storage.get_doctor("D2") is not None and len(engine.history("D1")) == 1
    engine.close()


def test_a_stored_doctor_in_the_batch_writes_nothing(url: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in [*WORLD, doctor_cmd("D1"), {"op": "clock", "at": REGISTRATION_DAY}]:
        engine.apply(cmd)
    before = settle(engine)
    ops = [parse_op(doctor_cmd("D2", serial=2)), parse_op(doctor_cmd("D1"))]
    with pytest.raises(ConflictError):
        engine.drive_new(ops, enrolled)
    assert image(engine) == before
    assert engine.storage.get_doctor("D2") is None and engine.state("D1").state == "not_enrolled"
    engine.close()


def test_a_bad_doctor_or_no_policy_is_refused_before_anything_is_written(url: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD[:-1]:  # the province without its policy
        engine.apply(cmd)
    with pytest.raises(Refused, match="no policy is loaded") as no_policy:
        engine.drive_new([parse_op(doctor_cmd("D1"))], enrolled)
    assert no_policy.value.code == NOT_FOUND and engine.storage.get_doctor("D1") is None
    engine.apply(WORLD[-1])
    before = settle(engine)
    # The same refusals as add_doctors': an unknown institution, an id card that is not one.
    unknown = parse_op({**doctor_cmd("D2", serial=2), "institution": "NO_SUCH"})
    forged = parse_op({**doctor_cmd("D3", serial=3), "id_card": "450103197003150000"})
    for bad, code in ((unknown, NOT_FOUND), (forged, BAD_INPUT)):
        with pytest.raises(Refused) as refused:
            engine.drive_new([parse_op(doctor_cmd("D1")), bad], enrolled)
        assert refused.value.code == code, refused.value
        with pytest.raises(Refused) as by_add:
            engine.add_doctors([bad])
        assert (by_add.value.code, str(by_add.value)) == (code, str(refused.value))
    assert image(engine) == before and engine.storage.get_doctor("D1") is None
    engine.close()
