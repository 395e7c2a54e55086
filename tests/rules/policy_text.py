"""The shipped policy files as text, and one-change variants of them for the broken-file tests."""

from __future__ import annotations

from pathlib import Path

from renew_fsm.rules.policy import shipped

GUANGXI = "guangxi-2019-2020"
PHYSICIAN_LAW = "physician-law-2021-2023"


def text_of(name: str) -> str:
    return shipped()[name].read_text(encoding="utf-8")


def variant(old: str, new: str, name: str = GUANGXI) -> str:
    """The shipped file with ``old`` (which must occur exactly once) replaced by ``new``."""
    text = text_of(name)
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """The 1-based line on which ``needle`` starts."""
    assert needle in text, needle
    return text[: text.index(needle)].count("\n") + 1


def write(tmp_path: Path, text: str, filename: str = "policy.toml") -> Path:
    path = tmp_path / filename
    path.write_text(text, encoding="utf-8")
    return path


def edited(changes: dict[str, str], name: str = GUANGXI) -> str:
    """The shipped file with several unique snippets replaced."""
    text = text_of(name)
    for old, new in changes.items():
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
        text = text.replace(old, new)
    return text
