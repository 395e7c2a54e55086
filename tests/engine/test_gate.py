"""Every write path passes one gate (``renew_fsm.gate``): the same hostile input gets the same
refusal — ``bad_input``, nothing written — whether it comes as a doctor's event, in a batch, as a
workflow case's step, as an institution change or as a replay command, on every backend."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from conftest import CITY, COUNTY, H1

import renew_fsm
from renew_fsm import Actor, Fire, Refused, ops
from renew_fsm.workflows import CaseFire

BEIJING = dt.timezone(dt.timedelta(hours=8))
#: A time every path accepts (the day after the registration day).
GOOD_AT = dt.datetime(2021, 4, 21, 10, tzinfo=BEIJING)

#: A hostile field, one at a time; the others are each path's good ones (``None``: the path's own).
HOSTILE: dict[str, dict[str, Any]] = {
    "a date as text": {"at": "2021-01-01"},
    "a date, not a date and time": {"at": dt.date(2021, 1, 1)},
    "a number as the time": {"at": 1_700_000_000},
    "a time past the calendar in Beijing": {"at": dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)},
    "a time before the calendar in Beijing": {"at": dt.datetime(1, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))},
    "an actor id with a NUL": {"actor": Actor("admin", "N\x00N")},
    "an actor id too long": {"actor": Actor("admin", "N" * 65)},
    "an actor id that is not text": {"actor": Actor("admin", 5)},  # type: ignore[arg-type]
    "an actor as a bare id": {"actor": "NN"},
    "an actor as a dict": {"actor": {"role": "admin", "id": "NN"}},
    "an actor of a made-up role": {"actor": Actor("superuser", "NN")},
    "data as text": {"data": "institution=H2"},
    "data as a list": {"data": [["institution", "H2"]]},
    "a key that is not text": {"key": 5},
    "a key with a NUL": {"key": "k\x00"},
    "an empty key": {"key": ""},
}
KEYED = {"a key that is not text", "a key with a NUL", "an empty key"}


def _fire(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    data = {"institution": "H2"} if data is None else data
    return e.fire("D1", "change_institution", actor or CITY, data, at, key)


def _fire_many(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    # change_institution is not a batch event (it moves the doctor in the registry): enroll is.
    result = e.fire_many([Fire("D1", "enroll", actor or H1, data, at, key)])[0]
    if isinstance(result, Refused):
        raise result
    return result


def _fire_expecting(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    return e.fire("D1", "enroll", actor or H1, data, at, key, expected_version=e.state("D1").version)


def _change_institution(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    if data is not None:  # (change_institution takes no data: hostile data goes the way fire sends it)
        return e.fire_change_institution("D1", actor or CITY, data, at, key)
    return e.change_institution("D1", "H2", actor or CITY, at, idempotency_key=key)


def _actor_op(actor: Any) -> Any:
    """The replay's actor: an ``Actor`` as its op, anything else as it came."""
    return ops.ActorOp(actor.role, actor.id) if isinstance(actor, Actor) else actor


def _apply_fire(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    return e.apply(ops.FireOp("D1", "enroll", _actor_op(actor or H1), {} if data is None else data, at, key))


def _case_fire(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    return e.case_fire("account", "h1", "create_account", actor or COUNTY, data, at, subject="institution:H1")


def _case_fire_many(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    command = CaseFire("h1", "create_account", actor or COUNTY, data, at, "institution:H1")
    result = e.case_fire_many("account", [command])[0]
    if isinstance(result, Refused):
        raise result
    return result


def _apply_case(e: renew_fsm.Engine, actor: Any, data: Any, at: Any, key: Any) -> Any:
    who = _actor_op(actor or COUNTY)
    return e.apply(ops.CaseOp("account", "create_account", who, "h1", None, "institution:H1", data or {}, at))


WRITE: dict[str, Callable[..., Any]] = {
    "fire": _fire,
    "fire_many": _fire_many,
    "fire expecting a version": _fire_expecting,
    "change_institution": _change_institution,
    "apply a fire op": _apply_fire,
    "case_fire": _case_fire,
    "case_fire_many": _case_fire_many,
    "apply a case op": _apply_case,
}
#: The paths that take an idempotency key (a workflow case has none).
KEYED_PATHS = {"fire", "fire_many", "fire expecting a version", "change_institution", "apply a fire op"}


def written(e: renew_fsm.Engine) -> tuple[int, list[str], str]:
    """What a refused write must leave as it was: the doctor's history, the cases, the registry."""
    return len(e.history("D1")), e.cases("account"), e.storage.get_doctor("D1").institution


def outcome(e: renew_fsm.Engine, path: str, inputs: dict[str, Any]) -> str:
    """The refusal's code on ``path`` (``ok`` if accepted), and whether it wrote anyway or echoed a NUL."""
    before = written(e)
    try:
        WRITE[path](e, **{"actor": None, "data": None, "at": GOOD_AT, "key": None, **inputs})
    except Refused as refused:
        wrote = " but wrote" if written(e) != before else ""
        echoed = " echoing the NUL" if "\x00" in refused.message_zh + refused.message else ""
        return refused.code + wrote + echoed
    return "ok"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_same_hostile_input_is_bad_input_on_every_write_path(engine: renew_fsm.Engine, hostile: str) -> None:
    """One row of the table: the hostile field sent down every path that takes it, on each backend."""
    paths = [p for p in WRITE if hostile not in KEYED or p in KEYED_PATHS]  # (a case takes no key)
    got = {path: outcome(engine, path, HOSTILE[hostile]) for path in paths}
    assert got == dict.fromkeys(paths, "bad_input")


@pytest.mark.parametrize("path", sorted(KEYED_PATHS))
def test_a_replayed_key_with_another_request_is_bad_input_on_every_keyed_path(
    engine: renew_fsm.Engine, path: str
) -> None:
    """The key was used for enrolling D1 (or moving them, for change_institution); sent again with
    another request it is refused, not answered as the retry it is not."""
    if path == "change_institution":
        engine.change_institution("D1", "H2", CITY, GOOD_AT, idempotency_key="k1")
        other = lambda: engine.change_institution("D1", "H1", CITY, GOOD_AT, idempotency_key="k1")  # noqa: E731
    else:
        engine.fire("D1", "enroll", H1, None, GOOD_AT, "k1")
        other = lambda: WRITE[path](engine, COUNTY, None, GOOD_AT, "k1")  # noqa: E731 (by another actor)
    before = written(engine)
    with pytest.raises(Refused) as refused:
        other()
    assert refused.value.code == "bad_input", refused.value.message
    assert "idempotency key already used" in refused.value.message
    assert written(engine) == before


@pytest.mark.parametrize("path", ["fire_many", "apply a fire op", "case_fire", "change_institution"])
def test_a_naive_time_is_the_policys_local_time_on_every_path(engine: renew_fsm.Engine, path: str) -> None:
    """A time without a zone is Beijing time already, whichever path it comes by (none shifts it by
    the machine's zone or refuses it)."""
    naive = dt.datetime(2021, 4, 21, 10)
    WRITE[path](engine, None, None, naive, None)
    records = engine.case_history("account", "h1") if path == "case_fire" else engine.history("D1")
    recorded = records[-1].at
    assert dt.datetime.fromisoformat(recorded) == GOOD_AT
    assert recorded.endswith("+08:00")


def test_the_checks_have_no_twin_left_on_the_engine() -> None:
    """The checks live in ``renew_fsm.gate`` only: the engine and its workflows keep no copy to drift."""
    import renew_fsm.workflows as workflows_module

    for name in ("_aware", "_decide", "_check", "_check_actor", "_conflict", "_prior", "_no_policy"):
        assert not hasattr(renew_fsm.Engine, name), name
    assert "ConflictError" not in vars(workflows_module)  # its conflicts are mapped by the gate


@pytest.mark.parametrize("path", WRITE)
def test_every_path_takes_the_good_inputs(engine: renew_fsm.Engine, path: str) -> None:
    """The table's good inputs are accepted on every path, so a refusal there is the hostile field's."""
    assert outcome(engine, path, {}) == "ok"
