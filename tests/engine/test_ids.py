"""Which ids and event data the boundary lets through: text a store can hold and show back exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renew_fsm.eventdata import text_problem
from renew_fsm.model import is_id


@pytest.mark.parametrize("value", ["D1", "H00001", "450100", "医院-甲", "a b", "x" * 64])
def test_printable_text_up_to_64_characters_is_an_id(value: str) -> None:
    assert is_id(value)


@pytest.mark.parametrize(
    "value",
    ["", "x" * 65, "D\x001", "D\n1", "\ud800", "D\udc80", "D\u2028", "\x7f", None, 7, ["D1"], b"D1"],
)
def test_empty_long_control_surrogate_or_non_text_is_not(value: Any) -> None:
    assert not is_id(value)


_TEXT = st.text(alphabet=st.characters(codec=None, blacklist_categories=()), max_size=6) | st.sampled_from(
    ["\x00", "a\x00", "\ud800", "医师", "\udfff医"]
)
_SCALARS = _TEXT | st.integers() | st.floats(allow_nan=True) | st.booleans() | st.none()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3))


@settings(max_examples=400, deadline=None)
@given(data=st.dictionaries(_TEXT, _VALUES, max_size=4), nul=st.booleans())
def test_event_data_is_judged_the_same_flat_or_nested(data: dict[Any, Any], nul: bool) -> None:
    """The shortcut for flat data (every event) agrees with the general walk (forced by nesting it)."""
    assert (text_problem(data, nul=nul) is None) == (text_problem([data], nul=nul) is None)


@pytest.mark.parametrize(
    ("data", "nul", "problem"),
    [
        ({"reason": "执业信息有误"}, True, None),
        ({"score": 75.0, "test": "business", "ok": True, "n": 3, "x": None}, True, None),
        ({"reason": "a\x00b"}, False, None),
        ({"reason": "a\x00b"}, True, "must not contain a NUL character"),
        ({"a\x00": 1}, True, "must not contain a NUL character"),
        ({"reason": "\ud800"}, False, "is not valid Unicode text (it holds a lone surrogate)"),
        ({"\udfff": 1}, False, "is not valid Unicode text (it holds a lone surrogate)"),
        ({"nested": {"deep": "\ud800"}}, False, "is not valid Unicode text (it holds a lone surrogate)"),
    ],
)
def test_text_problem_names_what_cannot_be_stored(data: dict[str, Any], nul: bool, problem: str | None) -> None:
    assert text_problem(data, nul=nul) == problem
