"""Setting up the world one command at a time and in batches: the cached world stays exactly what
the store holds, and a batch of institutions is all or nothing."""

from __future__ import annotations

from typing import Any

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


H1 = InstitutionOp("H1", "NN-QX", "一院")


@pytest.mark.parametrize(
    ("given", "code", "said"),
    [
        ([H1, InstitutionOp("H9", "NOWHERE", "九院")], "not_found", "H9"),
        ([H1, InstitutionOp("H9", "NN-QX", "九院", "shop")], "bad_input", "H9"),
        # Anything but ops: a command as a dict straight from JSON, nothing, a bare id.
        ([H1, {"op": "institution", "id": "H9", "region": "NN-QX", "name": "九院"}], "bad_input", "item 1 is a dict"),
        (None, "bad_input", "renew_fsm.ops.InstitutionOp"),
        ("H9", "bad_input", "renew_fsm.ops.InstitutionOp"),
    ],
)
def test_a_batch_with_one_bad_institution_writes_none(url: str, given: Any, code: str, said: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        if cmd["op"] == "region":
            engine.apply(cmd)
    before = fresh(engine)
    with pytest.raises(Refused) as refused:
        engine.add_institutions(given)
    assert refused.value.code == code and said in refused.value.message
    after = fresh(engine)
    assert (after.institutions, after.version) == (before.institutions, before.version)
    assert engine.world().institutions == {}


def test_doctors_given_as_dicts_are_refused_and_write_nothing(url: str) -> None:
    engine = renew_fsm.open(url)
    for cmd in WORLD:
        engine.apply(cmd)
    with pytest.raises(Refused) as refused:
        engine.add_doctors([ops.parse(doctor_cmd("D1")), doctor_cmd("D2")])  # type: ignore[list-item]
    assert refused.value.code == "bad_input" and "item 1 is a dict" in refused.value.message
    assert engine.storage.get_doctor("D1") is None
