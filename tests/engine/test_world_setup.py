"""Setting up the world one command at a time and in batches: the cached world stays exactly what
the store holds, and a batch of institutions is all or nothing."""

from __future__ import annotations

import pytest
from conftest import WORLD, doctor_cmd

import renew_fsm
from renew_fsm import Refused, ops
from renew_fsm.ops import InstitutionOp
from renew_fsm.world import Region, World


def fresh(engine: renew_fsm.Engine) -> World:
    """The world as a second engine on the same store reads it (no cache of ours)."""
    rows = engine.storage.load_world(None)
    return World.build(rows.version, rows.regions, rows.institutions, rows.agencies, None)


def test_regions_added_one_by_one_chain_as_a_world_built_at_once(url: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        if cmd["op"] == "region":
            engine.apply(cmd)
    cached = engine.world()
    assert dict(cached.chains) == dict(fresh(engine).chains)
    assert cached.chains["NN-QX"] == ("NN-QX", "NN", "GX")
    assert cached.governs("NN", "NN-QX") and not cached.governs("GL", "NN-QX")


def test_a_region_replaced_under_another_parent_moves_its_subtree(url: str) -> None:
    """A county moved to another city: its chain, and only through a recomputation, changes."""
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        if cmd["op"] == "region":
            engine.apply(cmd)
    engine.apply({"op": "region", "id": "NN-QX", "level": "county", "parent": "GL", "name": "青秀区"})
    world = engine.world()
    assert world.chains["NN-QX"] == ("NN-QX", "GL", "GX")
    assert world.governs("GL", "NN-QX") and not world.governs("NN", "NN-QX")
    assert dict(world.chains) == dict(fresh(engine).chains)


def test_with_region_extends_the_chains_of_the_world_it_comes_from() -> None:
    base = World.build(1, [Region("P", "province", "省", None), Region("C", "city", "市", "P")], [], [], None)
    grown = base.with_region(Region("K", "county", "县", "C"))
    assert grown.chains["K"] == ("K", "C", "P")
    assert "K" not in base.chains and "K" not in base.regions  # the older world is untouched
    rebuilt = World.build(1, list(grown.regions.values()), [], [], None)
    assert dict(grown.chains) == dict(rebuilt.chains)


def test_institutions_in_one_batch(url: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        if cmd["op"] == "region":
            engine.apply(cmd)
    engine.add_institutions([InstitutionOp("H1", "NN-QX", "一院"), InstitutionOp("ORG", "NN", "协会", "industry_org")])
    world = engine.world()
    assert {i: (x.region, x.kind) for i, x in world.institutions.items()} == {
        "H1": ("NN-QX", "institution"),
        "ORG": ("NN", "industry_org"),
    }
    assert world.institutions == fresh(engine).institutions
    assert world.version == fresh(engine).version


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (InstitutionOp("H9", "NOWHERE", "九院"), "not_found"),
        (InstitutionOp("H9", "NN-QX", "九院", "shop"), "bad_input"),
    ],
)
def test_a_batch_with_one_bad_institution_writes_none(url: str, bad: InstitutionOp, code: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        if cmd["op"] == "region":
            engine.apply(cmd)
    before = fresh(engine)
    with pytest.raises(Refused) as refused:
        engine.add_institutions([InstitutionOp("H1", "NN-QX", "一院"), bad])
    assert refused.value.code == code and "H9" in refused.value.message
    after = fresh(engine)
    assert (after.institutions, after.version) == (before.institutions, before.version)
    assert engine.world().institutions == {}


@pytest.mark.parametrize("given", [[{"op": "institution", "id": "H9", "region": "NN-QX", "name": "九院"}], None, "H9"])
def test_institutions_given_as_anything_but_ops_are_refused_and_write_nothing(url: str, given: object) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        if cmd["op"] == "region":
            engine.apply(cmd)
    before = fresh(engine)
    with pytest.raises(Refused) as refused:
        engine.add_institutions([InstitutionOp("H1", "NN-QX", "一院"), *given] if isinstance(given, list) else given)  # type: ignore[arg-type]
    assert refused.value.code == "bad_input" and "renew_fsm.ops.InstitutionOp" in refused.value.message
    after = fresh(engine)
    assert (after.institutions, after.version) == (before.institutions, before.version)


def test_doctors_given_as_dicts_are_refused_and_write_nothing(url: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        engine.apply(cmd)
    with pytest.raises(Refused) as refused:
        engine.add_doctors([ops.parse(doctor_cmd("D1")), doctor_cmd("D2")])  # type: ignore[list-item]
    assert refused.value.code == "bad_input" and "item 1 is a dict" in refused.value.message
    assert engine.storage.get_doctor("D1") is None
