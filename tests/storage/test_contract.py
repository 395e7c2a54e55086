"""The storage contract: one suite, every backend (memory, SQLite, PostgreSQL).

Each test opens a fresh store with ``open_storage(url)`` and talks to it only
through the ``Storage`` protocol, so a backend passes exactly when it keeps
the contract the engine relies on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import psycopg
import pytest
from conftest import PG_REQUIRED, fresh_schema

import renew_fsm
from renew_fsm import Actor
from renew_fsm.idcard import make
from renew_fsm.model import Case, Doctor, Instance, Record
from renew_fsm.rules.policy import ExemptionReason
from renew_fsm.storage import ConflictError, Storage, StorageError, open_storage
from renew_fsm.storage.base import SCHEMA_VERSION, STORAGE_METHODS, CaseWrites
from renew_fsm.world import Agency, Institution, Region

CYCLE = "guangxi-2019-2020"


@pytest.fixture
def store(url: str) -> Iterator[Storage]:
    s = open_storage(url)
    yield s
    s.close()


def doc(did: str, institution: str = "H1", name: str | None = None, serial: int = 1) -> Doctor:
    born = dt.date(1970, 3, 15)
    return Doctor(
        did,
        institution,
        name or f"医师{did}",
        make("450103", born, serial),
        "physician",
        born,
        dt.date(2000, 9, 1),
        "good",
        {"phone": "1380000"},
    )


def rec(doctor: str, seq: int, event: str = "enroll", key: str | None = None, cycle: str = CYCLE) -> Record:
    return Record(
        cycle,
        doctor,
        seq,
        event,
        f"s{seq - 1}",
        f"s{seq}",
        "institution",
        "H1",
        f"2021-04-20T09:{seq:02d}:00+08:00",
        f'{{"n":{seq}}}',
        "2021.1",
        f"hash-{doctor}-{seq}",
        key,
    )


def moved(inst: Instance, seq: int, **changes: object) -> Instance:
    return inst._replace(state=f"s{seq}", version=seq, head=f"hash-{inst.doctor}-{seq}", **changes)


def seeded(store: Storage, *ids: str) -> dict[str, Instance]:
    assert store.put_doctors([doc(d, serial=i) for i, d in enumerate(ids, 1)], CYCLE) == []
    loaded = store.load(CYCLE, list(ids))
    return {d: loaded[d][0] for d in ids}


def snapshot(store: Storage, ids: list[str]) -> tuple[object, ...]:
    """Everything ``commit`` may touch, to compare before and after a refused write."""
    loaded = store.load(CYCLE, ids)
    return (
        {d: loaded[d][0] for d in loaded},
        {d: store.history(CYCLE, d) for d in ids},
        list(store.all_history(CYCLE)),
    )


# -- settings and the world ------------------------------------------------------------------


def test_meta_is_a_key_value_store(store: Storage) -> None:
    assert store.get_meta("clock") is None
    store.set_meta("clock", "2021-04-20T09:00:00+08:00")
    assert store.get_meta("clock") == "2021-04-20T09:00:00+08:00"
    store.set_meta("clock", "2021-06-01T09:00:00+08:00")
    assert store.get_meta("clock") == "2021-06-01T09:00:00+08:00"
    assert store.get_meta("other") is None


def test_every_world_write_bumps_the_world_version(store: Storage) -> None:
    seen = [store.world_version()]
    store.put_region(Region("GX", "province", "广西"))
    seen.append(store.world_version())
    store.put_region(Region("NN", "city", "南宁", "GX"))
    seen.append(store.world_version())
    store.put_institution(Institution("H1", "NN", "医院1"))
    seen.append(store.world_version())
    store.put_agency(Agency("A1", "NN", "考核机构", frozenset({"H1"})))
    seen.append(store.world_version())
    store.put_policy(CYCLE, "2021.1", "policy text")
    seen.append(store.world_version())
    store.put_exemption_reason(CYCLE, "r1", ExemptionReason("理由", True))
    seen.append(store.world_version())
    store.seed_exemption_reasons(CYCLE, {"r2": ExemptionReason("理由2", True)})
    seen.append(store.world_version())
    assert seen == sorted(set(seen)), f"each write must raise the version: {seen}"
    assert store.set_meta("clock", "x") is None and store.world_version() == seen[-1]  # the clock is not the world

    rows = store.load_world(CYCLE)
    assert rows.version == seen[-1]
    assert sorted(rows.regions, key=lambda r: r.id) == [
        Region("GX", "province", "广西"),
        Region("NN", "city", "南宁", "GX"),
    ]
    assert rows.institutions == [Institution("H1", "NN", "医院1")]
    assert rows.agencies == [Agency("A1", "NN", "考核机构", frozenset({"H1"}))]
    assert rows.policy_text == "policy text"


def test_world_rows_are_replaced_when_put_again(store: Storage) -> None:
    store.put_region(Region("NN", "city", "南宁"))
    store.put_region(Region("NN", "city", "南宁市"))
    for i in ("H1", "H2", "H3"):
        store.put_institution(Institution(i, "NN", i))
    store.put_institution(Institution("H1", "NN", "改名", "industry_org"))
    store.put_agency(Agency("A1", "NN", "考核机构", frozenset({"H1", "H2"})))
    store.put_agency(Agency("A1", "NN", "考核机构", frozenset({"H3"})))
    rows = store.load_world(None)
    assert rows.regions == [Region("NN", "city", "南宁市")]
    assert Institution("H1", "NN", "改名", "industry_org") in rows.institutions
    assert len(rows.institutions) == 3
    # Assignments are replaced, not merged.
    assert rows.agencies == [Agency("A1", "NN", "考核机构", frozenset({"H3"}))]
    store.put_agency(Agency("A1", "NN", "考核机构"))
    assert store.load_world(None).agencies == [Agency("A1", "NN", "考核机构", frozenset())]


def test_policies_are_kept_by_id_and_version(store: Storage) -> None:
    assert store.load_world(None).policy_text is None
    assert store.policy_text(CYCLE, "2021.1") is None
    store.put_policy(CYCLE, "2021.1", "first")
    store.put_policy(CYCLE, "2021.2", "second")
    assert store.policy_text(CYCLE, "2021.1") == "first"
    assert store.policy_text(CYCLE, "2021.2") == "second"
    assert store.get_meta("policy") == f"{CYCLE}@2021.2"
    assert store.load_world(CYCLE).policy_text == "second"
    store.put_policy(CYCLE, "2021.1", "first again")
    assert store.get_meta("policy") == f"{CYCLE}@2021.1"
    # The first text stays: records judged under 2021.1 name its SHA-256 (the engine refuses other rules).
    assert store.load_world(CYCLE).policy_text == "first"
    assert [(p[0], p[1], p[3]) for p in store.policies()] == [
        (CYCLE, "2021.1", hashlib.sha256(b"first").hexdigest()),
        (CYCLE, "2021.2", hashlib.sha256(b"second").hexdigest()),
    ]


def test_seeding_exemption_reasons_keeps_what_the_province_changed(store: Storage) -> None:
    store.seed_exemption_reasons(CYCLE, {"a": ExemptionReason("甲", True), "b": ExemptionReason("乙", True)})
    store.put_exemption_reason(CYCLE, "a", ExemptionReason("甲（已关闭）", False))
    # Loading the policy again seeds again: insert-or-ignore leaves "a" as the province set it.
    store.seed_exemption_reasons(CYCLE, {"a": ExemptionReason("甲", True), "c": ExemptionReason("丙", True)})
    reasons = store.load_world(CYCLE).reasons
    assert reasons == {
        "a": ExemptionReason("甲（已关闭）", False),
        "b": ExemptionReason("乙", True),
        "c": ExemptionReason("丙", True),
    }
    # put is an upsert; the lists are per cycle.
    store.put_exemption_reason(CYCLE, "a", ExemptionReason("甲", True))
    assert store.load_world(CYCLE).reasons["a"] == ExemptionReason("甲", True)
    assert store.load_world("another-cycle").reasons == {}
    store.seed_exemption_reasons(CYCLE, {})
    assert len(store.load_world(CYCLE).reasons) == 3


# -- doctors and instances --------------------------------------------------------------------


def test_put_doctors_inserts_doctors_and_their_instances(store: Storage) -> None:
    assert store.put_doctors([doc("D1", serial=1), doc("D2", serial=2)], CYCLE) == []
    assert store.get_doctor("D1") == doc("D1", serial=1)
    assert store.get_doctor("D1").profile == {"phone": "1380000"}  # type: ignore[union-attr]
    assert store.get_doctor("D9") is None
    loaded = store.load(CYCLE, ["D1", "D2"])
    assert loaded["D2"] == (Instance("D2", CYCLE), doc("D2", serial=2))
    assert store.instance_ids(CYCLE) == ["D1", "D2"]


def test_putting_the_same_doctor_again_reports_it_present(store: Storage) -> None:
    store.put_doctors([doc("D1")], CYCLE)
    before = store.world_version()
    assert store.put_doctors([doc("D1"), doc("D2", serial=2)], CYCLE) == ["D1"]
    assert store.get_doctor("D2") == doc("D2", serial=2)
    assert store.instance_ids(CYCLE) == ["D1", "D2"]
    assert store.world_version() == before  # doctors are not the cached world


def test_a_doctor_with_other_details_is_a_conflict_and_the_whole_batch_is_refused(store: Storage) -> None:
    store.put_doctors([doc("D1")], CYCLE)
    changed = doc("D1", name="另一个人")
    with pytest.raises(ConflictError):
        store.put_doctors([changed], CYCLE)
    assert store.get_doctor("D1") == doc("D1")
    # All or nothing: the new doctors of a batch with one conflicting doctor are not inserted either.
    with pytest.raises(ConflictError):
        store.put_doctors([doc("D2", serial=2), changed, doc("D3", serial=3)], CYCLE)
    assert store.get_doctor("D2") is None and store.get_doctor("D3") is None
    assert store.instance_ids(CYCLE) == ["D1"]
    assert store.load(CYCLE, ["D2", "D3"]) == {}


def test_a_batch_naming_one_doctor_twice_with_other_details_is_a_conflict(store: Storage) -> None:
    with pytest.raises(ConflictError):
        store.put_doctors([doc("D1"), doc("D2", serial=2), doc("D1", name="另一个人")], CYCLE)
    assert store.get_doctor("D1") is None and store.get_doctor("D2") is None
    assert store.instance_ids(CYCLE) == []
    # The same doctor twice with the same details is harmless.
    assert store.put_doctors([doc("D1"), doc("D1")], CYCLE) == []
    assert store.instance_ids(CYCLE) == ["D1"]


def test_the_optional_registry_fields_round_trip_and_id_cards_name_their_doctor(store: Storage) -> None:
    full = attrs.evolve(
        doc("D1"),
        sex="female",
        qualification_no="199845110450103197003150013",
        license_no="110450100003512",
        practice_category="tcm",
    )
    store.put_doctors([full, doc("D2", serial=2)], CYCLE)
    assert store.get_doctor("D1") == full
    assert store.load(CYCLE, ["D1"])["D1"][1].practice_category == "tcm"
    assert store.get_doctor("D2").sex is None  # type: ignore[union-attr]
    # Putting D1 again with another category is another doctor: refused like any other detail.
    with pytest.raises(ConflictError):
        store.put_doctors([attrs.evolve(full, practice_category="dental")], CYCLE)
    cards = [full.id_card, doc("D2", serial=2).id_card, doc("D9", serial=9).id_card]
    assert store.doctors_with_id_cards(cards) == {cards[0]: "D1", cards[1]: "D2"}
    assert store.doctors_with_id_cards([]) == {}


def test_doctors_put_before_a_cycle_get_instances_from_ensure_instances(store: Storage) -> None:
    store.put_doctors([doc("D1", serial=1), doc("D2", serial=2)], None)
    assert store.instance_ids(CYCLE) == []
    assert store.cycles() == []
    assert store.ensure_instances(CYCLE) == 2
    assert store.ensure_instances(CYCLE) == 0
    assert store.instance_ids(CYCLE) == ["D1", "D2"]
    assert store.load(CYCLE, ["D1"])["D1"][0] == Instance("D1", CYCLE)
    # A doctor who already has an instance keeps it as it is.
    inst = store.load(CYCLE, ["D1"])["D1"][0]
    store.commit([(0, moved(inst, 1))], [rec("D1", 1)])
    store.put_doctors([doc("D3", serial=3)], CYCLE)
    assert store.ensure_instances(CYCLE) == 0
    assert store.load(CYCLE, ["D1"])["D1"][0].version == 1


def test_put_new_doctors_writes_doctors_their_instances_as_given_and_their_records(store: Storage) -> None:
    """A simulation's first page: what put_doctors then commit would leave, in one transaction."""
    d1, d2 = doc("D1", serial=1), doc("D2", "H2", serial=2)
    driven = moved(Instance("D1", CYCLE), 2, program="simple", humanities_best=61.5)
    store.put_new_doctors([d1, d2], [driven, Instance("D2", CYCLE)], [rec("D1", 1), rec("D1", 2)])
    assert store.load(CYCLE, ["D1", "D2"]) == {"D1": (driven, d1), "D2": (Instance("D2", CYCLE), d2)}
    assert store.history(CYCLE, "D1") == [rec("D1", 1), rec("D1", 2)] and store.history(CYCLE, "D2") == []
    assert [inst.doctor for inst, _ in store.scan(CYCLE, ["s2"], None, 10)] == ["D1"]
    # The instance carries its doctor's institution, as put_doctors' does (statistics count by it).
    assert sorted(t[0] for t in store.tally(CYCLE)) == ["H1", "H2"]
    store.commit([(2, moved(driven, 3))], [rec("D1", 3)])  # the next write finds it where it was left
    assert store.load(CYCLE, ["D1"])["D1"][0].version == 3
    store.put_new_doctors([], [], [])


def test_put_new_doctors_refuses_a_stored_or_repeated_doctor_or_record_and_writes_nothing(store: Storage) -> None:
    seeded(store, "D1")
    before = snapshot(store, ["D1", "D2", "D3"])
    fresh = [doc("D2", serial=2), doc("D3", serial=3)]
    insts = [Instance("D2", CYCLE), Instance("D3", CYCLE)]
    with pytest.raises(ConflictError):  # D1 is stored already, even with the same details
        store.put_new_doctors([*fresh, doc("D1")], [*insts, Instance("D1", CYCLE)], [rec("D2", 1)])
    with pytest.raises(ConflictError):  # one record twice
        store.put_new_doctors(fresh, insts, [rec("D2", 1), rec("D2", 1, event="other")])
    with pytest.raises(ConflictError):  # one doctor twice
        store.put_new_doctors([*fresh, fresh[0]], [*insts, insts[0]], [])
    assert snapshot(store, ["D1", "D2", "D3"]) == before
    assert store.get_doctor("D2") is None and store.instance_ids(CYCLE) == ["D1"]


def test_put_new_doctors_takes_one_instance_per_doctor_and_only_their_records(store: Storage) -> None:
    fresh = [doc("D2", serial=2)]
    with pytest.raises(ValueError, match="one instance for each"):
        store.put_new_doctors(fresh, [], [])
    with pytest.raises(ValueError, match="one instance for each"):
        store.put_new_doctors(fresh, [Instance("D9", CYCLE)], [])
    with pytest.raises(ValueError, match="records of its own doctors"):
        store.put_new_doctors(fresh, [Instance("D2", CYCLE)], [rec("D9", 1)])
    assert store.get_doctor("D2") is None and store.instance_ids(CYCLE) == []


def test_load_returns_only_the_instances_that_exist(store: Storage) -> None:
    seeded(store, "D1", "D2")
    loaded = store.load(CYCLE, ["D2", "NOPE", "D1", "D2"])
    assert sorted(loaded) == ["D1", "D2"]
    assert store.load(CYCLE, []) == {}
    assert store.load("another-cycle", ["D1"]) == {}


def test_an_instance_round_trips_every_field(store: Storage) -> None:
    inst = seeded(store, "D1")["D1"]
    full = moved(
        inst,
        1,
        flags=frozenset({"suspected", "published", "humanities_exempt"}),
        reason="humanities",
        program="general",
        condition="good_record_5y",
        work_performance="pass",
        ethics="fail",
        exemption_reason="residency_training",
        humanities_attempts=3,
        humanities_best=59.5,
        business_attempts=1,
        business_best=55.0,
        reexam_attempts=1,
        reexam_best=61.25,
        deferred_from="general.testing",
        suspended_on=dt.date(2021, 7, 1),
        suspension_months=6,
        finding="cheating",
    )
    store.commit([(0, full)], [rec("D1", 1)])
    assert store.load(CYCLE, ["D1"])["D1"][0] == full
    assert store.scan(CYCLE, None, None, 10)[0][0] == full


# -- commit ---------------------------------------------------------------------------------------


def test_commit_writes_instances_and_records_together(store: Storage) -> None:
    insts = seeded(store, "D1", "D2")
    store.commit(
        [(0, moved(insts["D1"], 2)), (0, moved(insts["D2"], 1))],
        [rec("D1", 1), rec("D1", 2), rec("D2", 1)],
    )
    loaded = store.load(CYCLE, ["D1", "D2"])
    assert loaded["D1"][0] == moved(insts["D1"], 2)
    assert loaded["D2"][0].version == 1
    assert store.history(CYCLE, "D1") == [rec("D1", 1), rec("D1", 2)]
    assert store.history(CYCLE, "D2") == [rec("D2", 1)]


def test_a_stale_version_writes_nothing_at_all(store: Storage) -> None:
    insts = seeded(store, "D1", "D2")
    store.commit([(0, moved(insts["D1"], 1))], [rec("D1", 1)])
    before = snapshot(store, ["D1", "D2"])
    with pytest.raises(ConflictError):
        # D2's update is fine, D1's was read at version 0 but is at 1 now.
        store.commit([(0, moved(insts["D2"], 1)), (0, moved(insts["D1"], 1))], [rec("D2", 1), rec("D1", 2)])
    assert snapshot(store, ["D1", "D2"]) == before
    with pytest.raises(ConflictError):
        store.commit([(5, moved(insts["D2"], 6))], [rec("D2", 6)])
    assert snapshot(store, ["D1", "D2"]) == before


def test_an_update_of_a_missing_instance_is_a_conflict(store: Storage) -> None:
    seeded(store, "D1")
    with pytest.raises(ConflictError):
        store.commit([(0, moved(Instance("GHOST", CYCLE), 1))], [rec("GHOST", 1)])
    assert store.history(CYCLE, "GHOST") == []
    assert store.load(CYCLE, ["GHOST"]) == {}


def test_a_duplicate_history_record_is_a_conflict(store: Storage) -> None:
    insts = seeded(store, "D1", "D2")
    store.commit([(0, moved(insts["D1"], 1))], [rec("D1", 1)])
    before = snapshot(store, ["D1", "D2"])
    with pytest.raises(ConflictError):
        store.commit([(0, moved(insts["D2"], 1))], [rec("D2", 1), rec("D1", 1, event="other")])
    assert snapshot(store, ["D1", "D2"]) == before
    with pytest.raises(ConflictError):  # twice in one batch
        store.commit([(0, moved(insts["D2"], 1))], [rec("D2", 1), rec("D2", 1, event="other")])
    assert snapshot(store, ["D1", "D2"]) == before


def test_one_instance_and_one_record_move_together_or_not_at_all(store: Storage) -> None:
    """A service's fire commits one of each (one statement on PostgreSQL): both or neither."""
    insts = seeded(store, "D1")
    store.commit([(0, moved(insts["D1"], 1))], [rec("D1", 1)])
    before = snapshot(store, ["D1"])
    with pytest.raises(ConflictError):  # the instance would move, the record is a repeat
        store.commit([(1, moved(insts["D1"], 2))], [rec("D1", 1, "other")])
    with pytest.raises(ConflictError):  # the record is new, the instance has moved on
        store.commit([(0, moved(insts["D1"], 2))], [rec("D1", 2)])
    assert snapshot(store, ["D1"]) == before
    store.commit([(1, moved(insts["D1"], 2))], [rec("D1", 2)])
    assert store.load(CYCLE, ["D1"])["D1"][0] == moved(insts["D1"], 2)
    assert store.history(CYCLE, "D1") == [rec("D1", 1), rec("D1", 2)]


@pytest.mark.parametrize("per_doctor", [1, 10])
def test_few_and_many_records_are_written_and_refused_alike(store: Storage, per_doctor: int) -> None:
    """10 or 100 records in one commit: PostgreSQL INSERTs the few and COPYs the many."""
    ids = [f"D{n}" for n in range(10)]
    insts = seeded(store, *ids)
    first = [rec(d, s) for d in ids for s in range(1, per_doctor + 1)]
    store.commit([(0, moved(insts[d], per_doctor)) for d in ids], first)
    assert [r for d in ids for r in store.history(CYCLE, d)] == first
    before = snapshot(store, ids)
    again = [rec(d, s) for d in ids for s in range(per_doctor + 1, 2 * per_doctor + 1)]
    with pytest.raises(ConflictError):  # the last record repeats one already stored
        store.commit([(per_doctor, moved(insts[d], 2 * per_doctor)) for d in ids], [*again, rec("D0", 1, "other")])
    assert snapshot(store, ids) == before


def test_an_idempotency_key_is_used_once_per_instance(store: Storage) -> None:
    insts = seeded(store, "D1", "D2")
    store.commit([(0, moved(insts["D1"], 1))], [rec("D1", 1, key="k1")])
    assert store.find_idempotent(CYCLE, "D1", "k1") == rec("D1", 1, key="k1")
    assert store.find_idempotent(CYCLE, "D1", "k2") is None
    assert store.find_idempotent(CYCLE, "D2", "k1") is None
    before = snapshot(store, ["D1", "D2"])
    with pytest.raises(ConflictError):
        store.commit([(1, moved(insts["D1"], 2))], [rec("D1", 2, key="k1")])
    assert snapshot(store, ["D1", "D2"]) == before
    with pytest.raises(ConflictError):  # twice in one batch
        store.commit([(0, moved(insts["D2"], 2))], [rec("D2", 1, key="k9"), rec("D2", 2, key="k9")])
    assert snapshot(store, ["D1", "D2"]) == before
    # The same key on another doctor, and records without a key, are fine.
    store.commit([(0, moved(insts["D2"], 2))], [rec("D2", 1, key="k1"), rec("D2", 2)])
    assert store.find_idempotent(CYCLE, "D2", "k1") == rec("D2", 1, key="k1")


def test_a_commit_inside_deciding_is_stored_when_it_ends(store: Storage) -> None:
    inst = seeded(store, "D1")["D1"]
    with store.deciding():
        assert store.load(CYCLE, ["D1"])["D1"][0] == inst
        store.commit([(0, moved(inst, 1))], [rec("D1", 1, key="k1")])
    assert store.load(CYCLE, ["D1"])["D1"][0] == moved(inst, 1)
    assert store.history(CYCLE, "D1") == [rec("D1", 1, key="k1")]
    assert store.find_idempotent(CYCLE, "D1", "k1") == rec("D1", 1, key="k1")


def test_a_conflict_inside_deciding_writes_nothing_and_what_follows_reads_the_store(store: Storage) -> None:
    inst = seeded(store, "D1")["D1"]
    store.commit([(0, moved(inst, 1))], [rec("D1", 1, key="k1")])
    before = snapshot(store, ["D1"])
    with store.deciding():
        store.load(CYCLE, ["D1"])
        with pytest.raises(ConflictError):  # the key is used: the update went through, the record did not
            store.commit([(1, moved(inst, 2))], [rec("D1", 2, key="k1")])
        assert store.load(CYCLE, ["D1"])["D1"][0] == moved(inst, 1)
        assert store.find_idempotent(CYCLE, "D1", "k1") == rec("D1", 1, key="k1")
    assert snapshot(store, ["D1"]) == before
    with store.deciding():  # and the next decision writes as usual
        store.commit([(1, moved(inst, 2))], [rec("D1", 2, key="k2")])
    assert store.load(CYCLE, ["D1"])["D1"][0] == moved(inst, 2)


def test_a_store_that_remembers_sees_another_connection_s_writes(sql_url: str) -> None:
    """What one connection read (the instance, the keys, the world's version) is read again once
    another connection has written, inside ``deciding`` and outside it."""
    mine, theirs = open_storage(sql_url), open_storage(sql_url)
    try:
        inst = seeded(mine, "D1")["D1"]
        version = mine.world_version()
        with mine.deciding():
            assert mine.load(CYCLE, ["D1"])["D1"][0] == inst
            assert mine.find_idempotent(CYCLE, "D1", "k1") is None
        theirs.commit([(0, moved(inst, 1))], [rec("D1", 1, key="k1")])
        theirs.put_region(Region("GX", "province", "广西"))
        with mine.deciding():
            assert mine.load(CYCLE, ["D1"])["D1"][0] == moved(inst, 1)
            assert mine.find_idempotent(CYCLE, "D1", "k1") == rec("D1", 1, key="k1")
            assert mine.world_version() == version + 1
        theirs.commit([(1, moved(inst, 2))], [rec("D1", 2)])
        assert mine.load(CYCLE, ["D1"])["D1"][0] == moved(inst, 2)
        with pytest.raises(ConflictError):  # decided on what it remembered: the write itself is refused
            mine.commit([(1, moved(inst, 2))], [rec("D1", 2)])
    finally:
        mine.close()
        theirs.close()


# -- reading ------------------------------------------------------------------------------------


def test_history_is_ordered_by_seq(store: Storage) -> None:
    inst = seeded(store, "D1")["D1"]
    for seq in range(1, 13):  # past 9, so text ordering would be wrong
        store.commit([(seq - 1, moved(inst, seq))], [rec("D1", seq)])
    assert [r.seq for r in store.history(CYCLE, "D1")] == list(range(1, 13))
    assert store.history(CYCLE, "D9") == []
    assert store.history("another-cycle", "D1") == []


def test_scan_filters_by_state_and_pages_by_doctor_id(store: Storage) -> None:
    ids = [f"D{i:02d}" for i in range(1, 12)]
    insts = seeded(store, *ids)
    odd = [insts[d] for i, d in enumerate(ids) if i % 2]
    store.commit([(0, moved(inst, 1)) for inst in odd], [rec(inst.doctor, 1) for inst in odd])

    def pages(states: list[str] | None, size: int) -> list[list[str]]:
        out, after = [], None
        while page := store.scan(CYCLE, states, after, size):
            assert all(len(p) == 2 and p[1].id == p[0].doctor for p in page)
            out.append([inst.doctor for inst, _ in page])
            after = page[-1][0].doctor
        return out

    assert pages(None, 4) == [ids[0:4], ids[4:8], ids[8:11]]
    assert pages(["s1"], 2) == [["D02", "D04"], ["D06", "D08"], ["D10"]]
    assert pages(["not_enrolled"], 100) == [[d for i, d in enumerate(ids) if i % 2 == 0]]
    assert pages(["not_enrolled", "s1"], 100) == [ids]
    # Pages over several states hold exactly the first ``size`` doctors of all of them, in order.
    assert pages(["s1", "not_enrolled"], 3) == [ids[0:3], ids[3:6], ids[6:9], ids[9:11]]
    assert pages(["not_enrolled", "s1", "qualified"], 2) == [ids[i : i + 2] for i in range(0, 11, 2)]
    slice_ = store.scan(CYCLE, ["s1", "not_enrolled"], "D02", 2, "D05")
    assert [inst.doctor for inst, _ in slice_] == ["D03", "D04"]
    slice_ = store.scan(CYCLE, ["s1", "not_enrolled"], "D02", 9, "D05")
    assert [inst.doctor for inst, _ in slice_] == ["D03", "D04", "D05"]
    assert pages(["qualified"], 100) == []
    assert store.scan(CYCLE, None, "D10", 5)[0][0].doctor == "D11"
    assert store.scan(CYCLE, None, "D11", 5) == []
    assert store.scan(CYCLE, None, None, 1)[0][1] == doc("D01", serial=1)


def test_instance_ids_and_cycles(store: Storage) -> None:
    store.put_doctors([doc("D2", serial=2), doc("D1", serial=1)], CYCLE)
    store.ensure_instances("zz-next-cycle")
    assert store.instance_ids(CYCLE) == ["D1", "D2"]
    assert store.instance_ids("zz-next-cycle") == ["D1", "D2"]
    assert store.instance_ids("nope") == []
    assert store.cycles() == [CYCLE, "zz-next-cycle"]


def test_all_history_is_grouped_by_doctor_in_seq_order(store: Storage) -> None:
    insts = seeded(store, "D2", "D1", "D3")
    # Interleave the writes so insertion order is not the answer.
    for seq in (1, 2, 3):
        for d in ("D3", "D1"):
            store.commit([(seq - 1, moved(insts[d], seq))], [rec(d, seq)])
    store.ensure_instances("zz-next-cycle")
    store.commit([(0, moved(Instance("D2", "zz-next-cycle"), 1))], [rec("D2", 1, cycle="zz-next-cycle")])
    got = [(r.doctor, r.seq) for r in store.all_history(CYCLE)]
    assert got == [("D1", 1), ("D1", 2), ("D1", 3), ("D3", 1), ("D3", 2), ("D3", 3)]
    assert [(r.doctor, r.cycle) for r in store.all_history("zz-next-cycle")] == [("D2", "zz-next-cycle")]
    assert list(store.all_history("nope")) == []


# -- the SQLite schema ----------------------------------------------------------------------------


def test_a_sqlite_file_from_a_newer_renew_fsm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_storage(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StorageError, match="schema version"):
        open_storage(str(path))
    # Refusing did not downgrade the file.
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert row == (str(SCHEMA_VERSION + 1),)


def test_reopening_a_sqlite_file_keeps_its_data(tmp_path: Path) -> None:
    path = str(tmp_path / "keep.db")
    s = open_storage(path)
    s.put_region(Region("GX", "province", "广西"))
    s.put_doctors([doc("D1")], CYCLE)
    inst = s.load(CYCLE, ["D1"])["D1"][0]
    s.commit([(0, moved(inst, 1))], [rec("D1", 1, key="k")])
    version = s.world_version()
    s.close()
    # Opening an up-to-date file writes nothing (a second connection keeps the WAL alive to look at).
    keeper = open_storage(path)
    files = [Path(path), Path(path + "-wal")]
    image = [f.read_bytes() for f in files]
    open_storage(path).close()
    assert [f.read_bytes() for f in files] == image, "opening an up-to-date file must not write to it"
    keeper.close()
    for _ in range(2):  # opened again and again, nothing changes
        s = open_storage(path)
        assert s.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert s.world_version() == version
        assert s.load_world(None).regions == [Region("GX", "province", "广西")]
        assert s.load(CYCLE, ["D1"])["D1"][0] == moved(inst, 1)
        assert s.history(CYCLE, "D1") == [rec("D1", 1, key="k")]
        with pytest.raises(ConflictError):
            s.commit([(1, moved(inst, 2))], [rec("D1", 2, key="k")])  # the unique index survived
        s.close()


def test_sqlite_url_forms(tmp_path: Path) -> None:
    path = tmp_path / "url.db"
    s = open_storage(f"sqlite:///{path}")
    s.set_meta("k", "v")
    s.close()
    s = open_storage(str(path))
    assert s.get_meta("k") == "v"
    s.close()
    mem = open_storage(":memory:")
    mem.set_meta("k", "v")
    assert mem.get_meta("k") == "v"
    mem.close()


def test_an_unopenable_sqlite_path_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        open_storage(str(tmp_path / "no" / "such" / "dir" / "x.db"))
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(StorageError):
        open_storage(str(garbage))


def test_scan_stops_at_an_upper_bound(store: Storage) -> None:
    ids = [f"D{i:02d}" for i in range(1, 8)]
    seeded(store, *ids)
    assert [i.doctor for i, _ in store.scan(CYCLE, None, None, 100, until="D04")] == ids[:4]
    assert [i.doctor for i, _ in store.scan(CYCLE, None, "D02", 100, until="D05")] == ["D03", "D04", "D05"]
    assert store.scan(CYCLE, None, "D05", 100, until="D05") == []


def test_tally_and_count_history_add_up(store: Storage) -> None:
    store.put_doctors([doc("D1", serial=1), doc("D2", serial=2), doc("D3", "H2", serial=3)], CYCLE)
    store.ensure_instances("zz-next-cycle")
    insts = {d: store.load(CYCLE, [d])[d][0] for d in ("D1", "D2", "D3")}
    store.commit(
        [(0, moved(insts["D1"], 2, program="general", reason="absent")), (0, moved(insts["D3"], 1))],
        [rec("D1", 1), rec("D1", 2), rec("D3", 1)],
    )
    store.commit([(0, moved(Instance("D2", "zz-next-cycle"), 1))], [rec("D2", 1, cycle="zz-next-cycle")])
    assert sorted(store.tally(CYCLE)) == [
        ("H1", "not_enrolled", None, None, 1),
        ("H1", "s2", "general", "absent", 1),
        ("H2", "s1", None, None, 1),
    ]
    assert store.count_history(CYCLE) == 3
    assert store.count_history("zz-next-cycle") == 1
    assert store.count_history("nope") == 0 and store.tally("nope") == []


def test_a_checkpoint_between_commits_keeps_every_write(url: str) -> None:
    """What a simulation's parent does while its workers write: every record and instance stays,
    from a second store on the same database (the worker's) and from the store itself."""
    writer, copier = open_storage(url), None
    try:
        copier = writer if url == "memory:" else open_storage(url)
        insts = seeded(writer, "D1", "D2")
        for seq in range(1, 4):
            writer.commit([(seq - 1, moved(insts["D1"], seq))], [rec("D1", seq)])
            copier.checkpoint()
        writer.commit([(0, moved(insts["D2"], 1))], [rec("D2", 1)])
        copier.checkpoint()
        for store in (writer, copier):
            assert [r.seq for r in store.history(CYCLE, "D1")] == [1, 2, 3]
            assert store.load(CYCLE, ["D2"])["D2"][0].version == 1
            assert store.count_history(CYCLE) == 4
    finally:
        if copier is not None and copier is not writer:
            copier.close()
        writer.close()


def test_schema_1_is_frozen_at_its_own_columns(tmp_path: Path) -> None:
    """Migration 1 builds what schema 1 had, whatever fields later code adds (those come by migration)."""
    import sqlite_utils

    from renew_fsm.storage.base import V1_HISTORY_COLUMNS, V1_INSTANCE_COLUMNS
    from renew_fsm.storage.sqlite_migrations import MIGRATIONS

    db = sqlite_utils.Database(tmp_path / "v1.db")
    MIGRATIONS[0](db)
    assert tuple(db["instances"].columns_dict) == V1_INSTANCE_COLUMNS
    assert tuple(db["history"].columns_dict) == V1_HISTORY_COLUMNS


# -- a closed store --------------------------------------------------------------------------


def _calls(inst: Instance) -> dict[str, tuple[object, ...]]:
    """An ordinary call of every contract method (a method added to the protocol needs one here)."""
    case = Case("export_request", "c1", "GX", "requested")
    return {
        "get_meta": ("clock",),
        "set_meta": ("clock", "2021-04-20T09:00:00+08:00"),
        "world_version": (),
        "deciding": (),
        "load_world": (CYCLE,),
        "put_region": (Region("GX", "province", "广西"),),
        "put_institution": (Institution("H2", "GX", "医院2"),),
        "put_agency": (Agency("A1", "GX", "考核机构", frozenset({"H1"})),),
        "put_policy": (CYCLE, "2021.1", "policy text"),
        "policy_text": (CYCLE, "2021.1"),
        "put_exemption_reason": (CYCLE, "r1", ExemptionReason("理由", True)),
        "seed_exemption_reasons": (CYCLE, {}),
        "put_doctors": ([], CYCLE),
        "put_new_doctors": ([], [], []),
        "get_doctor": ("D1",),
        "doctors_with_id_cards": (["450103197003150013"],),
        "ensure_instances": (CYCLE,),
        "load": (CYCLE, []),
        "commit": ([(0, moved(inst, 1))], [rec("D1", 1)]),
        "history": (CYCLE, "D1"),
        "instance_ids": (CYCLE,),
        "scan": (CYCLE, None, None, 10),
        "find_idempotent": (CYCLE, "D1", "k"),
        "all_history": (CYCLE,),
        "cycles": (),
        "count_history": (CYCLE,),
        "checkpoint": (),
        "tally": (CYCLE,),
        "move_doctor": (0, moved(inst, 1), rec("D1", 1), "H2"),
        "load_case": (case.machine, case.id),
        "commit_case": (0, case, rec("c1", 1, "request"), CaseWrites()),
        "scan_cases": (case.machine, None, 10),
        "credential": ("doctor:D1",),
        "set_credential": ("doctor:D1", "x"),
        "meta_with_prefix": ("session:",),
        "delete_meta": (["session:x"],),
        "changes": (CYCLE, 0, 10),
        "case_file": (case.machine, case.id),
        "work_queue": (CYCLE, [("not_enrolled", frozenset(), frozenset())], None, None, None, 10),
        "put_institutions": ([],),
        "registry_log": (),
        "registry_rows": ("doctors",),
        "policies": (),
    }


def test_every_method_of_a_closed_store_says_so(store: Storage) -> None:
    """One typed error on every backend, even for calls that need not touch the database (empty
    batches); before, memory went on working and the SQL stores raised their drivers' errors."""
    inst = seeded(store, "D1")["D1"]
    calls = _calls(inst)
    assert sorted(calls) == sorted(STORAGE_METHODS)
    store.close()
    for name, args in calls.items():
        with pytest.raises(StorageError, match=r"^this store is closed$"):
            result = getattr(store, name)(*args)
            if name == "all_history":
                list(result)  # a generator may fail only once read
    store.close()  # closing again is harmless (the fixture closes a third time)


def test_an_engine_used_after_close_raises_storage_error(url: str) -> None:
    engine = renew_fsm.open(url)
    engine.apply({"op": "policy", "name": CYCLE})
    engine.close()
    with pytest.raises(StorageError, match="this store is closed"):
        engine.state("D1")
    with pytest.raises(StorageError, match="this store is closed"):
        engine.fire("D1", "enroll", Actor("institution", "H1"))
    engine.close()


# -- ids in code-point order, whatever the database's collation ------------------------------------

#: Ids a human collation orders otherwise than code points (ICU en-US: a1 D-3 d2 D9 D10 DB Db Z1 医1).
ODD_IDS = ("d2", "D10", "医1", "Z1", "a1", "D-3", "D9", "Db", "DB")
EXPORT = "export_request"


def seed_odd_ids(store: Storage) -> None:
    """Every other doctor moved on (so walks over two states merge), each with a record and a case."""
    insts = seeded(store, *ODD_IDS)
    moved_on = [insts[d] for d in ODD_IDS[::2]]
    store.commit([(0, moved(inst, 1)) for inst in moved_on], [rec(inst.doctor, 1) for inst in moved_on])
    for cid in ODD_IDS:
        case = Case(EXPORT, cid, "GX", "requested", 1)
        store.commit_case(0, case, rec(cid, 1, "request", cycle=case.cycle), CaseWrites())


def assert_code_point_order(store: Storage) -> None:
    """Lists, paged walks and work queues give ids in code-point order (Python's), at every page size."""
    ids = sorted(ODD_IDS)
    two = [("not_enrolled", frozenset[str](), frozenset[str]()), ("s1", frozenset[str](), frozenset[str]())]
    pagers: dict[str, Callable[[str | None, int], list[str]]] = {  # (after, size) -> a page's ids
        "scan": lambda a, n: [i.doctor for i, _ in store.scan(CYCLE, None, a, n)],
        "scan of two states": lambda a, n: [i.doctor for i, _ in store.scan(CYCLE, ["s1", "not_enrolled"], a, n)],
        "the province's queue": lambda a, n: [i.doctor for i, _ in store.work_queue(CYCLE, two, None, None, a, n)],
        "a hospital's queue": lambda a, n: [i.doctor for i, _ in store.work_queue(CYCLE, two, ["H1"], None, a, n)],
        "cases": lambda a, n: [c.id for c in store.scan_cases(EXPORT, a, n)],
    }
    assert store.instance_ids(CYCLE) == ids
    for name, page_of in pagers.items():
        for size in (1, 2, 4, 100):
            walked: list[str] = []
            while page := page_of(walked[-1] if walked else None, size):
                walked += page
            assert walked == ids, (name, size)
    assert [r.doctor for r in store.all_history(CYCLE)] == sorted(ODD_IDS[::2])


def test_ids_are_ordered_by_code_point(store: Storage) -> None:
    seed_odd_ids(store)
    assert_code_point_order(store)


@pytest.fixture(scope="session")
def icu_database(pg_database: str) -> Iterator[str]:
    """A database whose collation orders text as people read it (ICU en-US), not by code point."""
    server, ours = pg_database.rsplit("/", 1)
    name = f"{ours}_icu"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        try:
            admin.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error as exc:
            message = f"no PostgreSQL database with an ICU collation can be made here, so none is tested: {exc}"
            pytest.fail(message) if PG_REQUIRED else pytest.skip(message)
        try:
            with psycopg.connect(f"{server}/{name}") as conn:
                assert conn.execute("SELECT 'a1' < 'D-3'").fetchone() == (True,), "the collation is not ICU's en-US"
            yield f"{server}/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def icu_url(icu_database: str) -> Iterator[str]:
    """A fresh schema in the ICU database."""
    yield from fresh_schema(icu_database, "icu_")


def test_ids_are_ordered_by_code_point_on_a_postgresql_database_with_another_collation(icu_url: str) -> None:
    store = open_storage(icu_url)
    seed_odd_ids(store)
    assert_code_point_order(store)
    store.close()


def test_a_schema_3_postgresql_store_is_upgraded_to_code_point_order_and_its_indexes_serve_it(icu_url: str) -> None:
    from renew_fsm.storage.postgres_migrations import MIGRATIONS

    store = open_storage(icu_url)
    seed_odd_ids(store)
    store.close()
    with psycopg.connect(icu_url, autocommit=True) as conn:  # back to what schema 3 left: the database's collation
        for statement in MIGRATIONS[3]:
            conn.execute(statement.replace('COLLATE "C"', 'COLLATE "default"'))  # type: ignore[arg-type]
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        assert conn.execute("SELECT doctor FROM instances ORDER BY doctor LIMIT 1").fetchone() == ("a1",)

    store = open_storage(icu_url)
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert_code_point_order(store)
    with psycopg.connect(icu_url) as conn:
        conn.execute("SET enable_seqscan = off")  # a few rows: the planner would read the table and sort
        plan = conn.execute(
            "EXPLAIN SELECT doctor FROM instances WHERE cycle = %s AND state = %s AND doctor > %s ORDER BY doctor",
            (CYCLE, "s1", "D"),
        ).fetchall()
        assert "Sort" not in str(plan) and "idx_instances_cycle_state_doctor" in str(plan), plan
    store.close()


def test_settings_by_prefix_and_deleted(store: Storage) -> None:
    """What a service keeps its sessions in: listed by prefix (a % or _ in it is no wildcard), deleted."""
    for key in ("session:b", "session:a", "sessions", "session%x", "clock"):
        store.set_meta(key, key.upper())
    assert store.meta_with_prefix("session:") == [("session:a", "SESSION:A"), ("session:b", "SESSION:B")]
    assert store.meta_with_prefix("session%") == [("session%x", "SESSION%X")]
    store.delete_meta(["session:a", "session:zzz"])
    assert store.meta_with_prefix("session:") == [("session:b", "SESSION:B")]
    assert store.get_meta("clock") == "CLOCK"


def test_changes_are_the_history_in_commit_order(store: Storage) -> None:
    insts = seeded(store, "D1", "D2")
    store.commit([(0, moved(insts["D2"], 1))], [rec("D2", 1)])
    store.commit([(0, moved(insts["D1"], 1))], [rec("D1", 1)])
    store.commit([(1, moved(insts["D1"], 2)), (1, moved(insts["D2"], 2))], [rec("D1", 2, "submit_info"), rec("D2", 2)])
    feed = store.changes(CYCLE, 0, 10)
    assert [(r.doctor, r.seq) for _, r in feed] == [("D2", 1), ("D1", 1), ("D1", 2), ("D2", 2)]
    positions = [p for p, _ in feed]
    assert positions == sorted(set(positions))
    assert [(r.doctor, r.seq) for _, r in store.changes(CYCLE, positions[1], 1)] == [("D1", 2)]
    assert store.changes(CYCLE, positions[-1], 10) == []
    assert store.changes("another-cycle", 0, 10) == []


def test_a_change_committed_late_is_not_passed_over(pg_url: str) -> None:
    """PostgreSQL hands out ids at insert: a writer in flight holds the feed back until it commits, so a
    reader never passes a position at which a record appears later.  (SQLite commits one writer at a
    time, so its order needs no such wait.)"""
    import psycopg

    store = open_storage(pg_url)
    try:
        insts = seeded(store, "D1", "D2")
        with psycopg.connect(pg_url) as slow:  # a transaction of its own, left open
            slow.execute("UPDATE instances SET version = 1 WHERE cycle = %s AND doctor = 'D1'", (CYCLE,))
            slow.execute(
                "INSERT INTO history (cycle, doctor, seq, event, from_state, to_state, role, actor, at, data, "
                "policy_version, hash) VALUES (%s, 'D1', 1, 'enroll', 's0', 's1', 'institution', 'H1', "
                "'2021-04-20T09:00:00+08:00', '{}', '2021.1', 'h')",
                (CYCLE,),
            )
            store.commit([(0, moved(insts["D2"], 1))], [rec("D2", 1)])  # a higher id, committed first
            t = threading.Timer(0.3, slow.commit)
            t.start()
            feed = store.changes(CYCLE, 0, 10)  # waits for the slow writer, then sees both in id order
            t.join()
        assert [r.doctor for _, r in feed] == ["D1", "D2"]
    finally:
        store.close()
