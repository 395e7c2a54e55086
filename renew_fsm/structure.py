"""cattrs converters for the boundary that say "expected an object" where an object belongs.

cattrs' generated hooks call ``.keys()`` / ``.items()`` on whatever they are
given, so a number where a table belongs (``pass_line = 60`` in a policy, an
``"actor": "H1"`` in a replay line) surfaced as "'int' object has no attribute
'items'" — Python's words, not the user's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_mapping_structure_fn


def _objects_only(make: Callable[[Any], Callable[[Any, Any], Any]], word: str) -> Callable[[Any], Any]:
    def factory(cl: Any) -> Callable[[Any, Any], Any]:
        inner = make(cl)

        def hook(value: Any, target: Any) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"expected {word}, got {_shown(value)}")
            return inner(value, target)

        return hook

    return factory


def _shown(value: Any) -> str:
    """The value as the user wrote it (a TOML date, a JSON string), not as Python shows it."""
    text = value.isoformat() if isinstance(value, dt.date) else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def converter(word: str) -> cattrs.Converter:
    """A converter refusing unknown keys, and anything but a dict where an attrs value or a mapping
    goes; ``word`` names an object the way the input's own format does ("a table" in TOML)."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook_factory(
        attrs.has, _objects_only(lambda cl: make_dict_structure_fn(cl, conv), word)
    )
    conv.register_structure_hook_factory(
        lambda t: get_origin(t) is dict, _objects_only(lambda cl: make_mapping_structure_fn(cl, conv), word)
    )
    return conv
