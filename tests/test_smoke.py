"""The first path of the manual on every backend: a general-program doctor qualifies."""

from __future__ import annotations

from conftest import A1, EXAM, at, to_testing


def test_general_program_physician_qualifies(engine):
    to_testing(engine, "D1", "general")
    engine.fire("D1", "record_score", EXAM, {"test": "business", "score": 60}, at=at("2021-06-02"))
    view = engine.fire("D1", "record_score", EXAM, {"test": "humanities", "score": 75}, at=at("2021-06-03"))
    assert view.state == "general.awaiting_grade"
    view = engine.fire("D1", "grade", A1, at=at("2021-07-01"))
    assert (view.state, view.reason) == ("qualified", None)
    assert [r.event for r in engine.history("D1")][-3:] == ["record_score", "record_score", "grade"]
