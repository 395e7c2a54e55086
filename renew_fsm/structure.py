"""The one cattrs boundary: how the policy (TOML), the replay ops (JSON) and the simulation profile (TOML)
become typed values, and how their mistakes are worded.

One configuration for all three: unknown keys are refused; a scalar is taken only in
its own type (cattrs alone would take ``true`` as 1.0, the text "0.5" as 0.5, and cut
60.5 to 60 without a word); a table or object is taken only where one belongs
(cattrs' generated hooks call ``.keys()`` / ``.items()`` on whatever they are given,
so ``province = 5`` said "'int' object has no attribute 'keys'" — Python's words,
not the user's).  The formats differ only in how they spell an object ("a table",
"an object") and a date (TOML has its own; JSON writes ISO text).

One formatter: ``problems`` turns cattrs' nested errors into (dotted path, problem)
pairs, ``describe`` into "path: problem" lines, the same at every boundary:
``province: expected a table, got 5``, ``tests.retry: expected a number, got true``,
``actor: expected an object, got 'H1'``, ``proctoring.watchful: is not a known field``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Literal, get_origin
from zoneinfo import ZoneInfoNotFoundError

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_mapping_structure_fn

#: The input formats: TOML files (a policy, a profile) and JSON commands (a replay line, an API call).
Format = Literal["toml", "json"]
#: The errors ``structure`` raises for input that does not fit (``problems`` words them).
INVALID = (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError)

_OBJECT = {"toml": "a table", "json": "an object"}
DATE_EXAMPLE = "2021-04-19"
TIME_EXAMPLE = "2021-04-20T09:00:00+08:00"


def shown(value: Any) -> str:
    """The value as the user wrote it (a date, ``true``, a quoted text), not as Python shows it; cut short."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _text(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {shown(value)}")
    return value


def _number(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {shown(value)}")
    return float(value)


def _whole(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {shown(value)}")
    return value


def _truth(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


def _toml_date(value: Any, _: Any) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"expected a date like {DATE_EXAMPLE}, got {shown(value)}")
    return value


def _toml_time(value: Any, _: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"expected a time like {TIME_EXAMPLE}, got {shown(value)}")
    return value


def _json_date(value: Any, _: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValueError(f"expected a date like {DATE_EXAMPLE}, got {shown(value)}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{shown(value)} is not a date like {DATE_EXAMPLE}") from None


def _json_time(value: Any, _: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected a time like {TIME_EXAMPLE}, got {shown(value)}")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{shown(value)} is not a time like {TIME_EXAMPLE}") from None


def _ids(value: Any, _: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of ids, got {shown(value)}")
    return value


def _objects_only(make: Callable[[Any], Callable[[Any, Any], Any]], word: str) -> Callable[[Any], Any]:
    def factory(cl: Any) -> Callable[[Any, Any], Any]:
        inner = make(cl)

        def hook(value: Any, target: Any) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"expected {word}, got {shown(value)}")
            return inner(value, target)

        return hook

    return factory


def converter(fmt: Format) -> cattrs.Converter:
    """The boundary's converter for input in ``fmt``: strict scalars, objects only where objects go, no unknown keys."""
    word = _OBJECT[fmt]
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook_factory(attrs.has, _objects_only(lambda cl: make_dict_structure_fn(cl, conv), word))
    conv.register_structure_hook_factory(
        lambda t: get_origin(t) is dict, _objects_only(lambda cl: make_mapping_structure_fn(cl, conv), word)
    )
    conv.register_structure_hook(str, _text)
    conv.register_structure_hook(float, _number)
    conv.register_structure_hook(int, _whole)
    conv.register_structure_hook(bool, _truth)
    conv.register_structure_hook(dt.date, _toml_date if fmt == "toml" else _json_date)
    conv.register_structure_hook(dt.datetime, _toml_time if fmt == "toml" else _json_time)

    def free_form(value: Any, _: Any) -> dict[str, Any]:
        """Data kept as it is (event data, a doctor's profile): any object, checked where it is used."""
        if not isinstance(value, dict):
            raise ValueError(f"expected {word}, got {shown(value)}")
        return value

    conv.register_structure_hook_func(lambda t: t == dict[str, Any], free_form)
    conv.register_structure_hook_func(lambda t: t == list[str], _ids)
    conv.register_structure_hook_func(lambda t: t == list[str] | None, lambda v, _: None if v is None else _ids(v, _))
    return conv


def problems(exc: BaseException, path: str = "") -> list[tuple[str, str]]:
    """cattrs' errors, nested by field, as (dotted path, problem) pairs in the order of the fields."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        out: list[tuple[str, str]] = []
        for sub in exc.exceptions:
            note = next((n for n in getattr(sub, "__notes__", []) if isinstance(n, str)), "")
            name = getattr(note, "name", None)
            if name is None:
                m = re.search(r"(?:attribute|key|index) ([^ ]+)", note)
                name = m.group(1).strip("'\"") if m else ""
            out += problems(sub, f"{path}.{name}" if path and name else name or path)
        return out
    if isinstance(exc, ForbiddenExtraKeysError):
        return [(f"{path}.{key}" if path else key, "is not a known field") for key in sorted(exc.extra_fields)]
    if isinstance(exc, ZoneInfoNotFoundError):  # a KeyError too: it must not read as a missing key
        zone = exc.args[0] if exc.args else "?"
        return [(path or "policy.timezone", f"not a known time zone, use an IANA name like Asia/Shanghai ({zone})")]
    if isinstance(exc, KeyError):
        key = str(exc.args[0]) if exc.args else "?"
        # cattrs already names the missing attribute in its note: do not name it twice.
        if path.rsplit(".", 1)[-1] == key:
            return [(path, "is missing")]
        return [(f"{path}.{key}" if path else key, "is missing")]
    return [(path, str(exc))]


def describe(exc: BaseException) -> list[str]:
    """``problems`` as the lines a user reads: "path: problem" ("(top level)" for the input as a whole)."""
    return [f"{path or '(top level)'}: {problem}" for path, problem in problems(exc)]
