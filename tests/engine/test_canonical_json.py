"""The canonical JSON a record's hash covers: the prebuilt encoder writes exactly what ``json`` writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renew_fsm.runtime import dumps

_KEYS = st.text(max_size=8)
_SCALARS = st.text(max_size=12) | st.integers() | st.floats() | st.booleans() | st.none()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3))


def reference(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_dumps_writes_what_json_writes(data: dict[str, Any]) -> None:
    assert dumps(data) == (reference(data) if data else "{}")


def test_a_failed_encoding_leaves_no_trace_for_the_next() -> None:
    inner: dict[str, Any] = {"bad": object()}
    with pytest.raises(TypeError):
        dumps({"outer": inner})
    # The same containers encode cleanly once they hold JSON (no stale "circular reference").
    inner["bad"] = "医师"
    assert dumps({"outer": inner}) == '{"outer":{"bad":"医师"}}'


def test_a_circular_structure_is_refused_not_looped() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular"):
        dumps({"x": loop})
    assert dumps({"x": 1}) == '{"x":1}'
