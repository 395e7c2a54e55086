"""Chinese first in the terminal: every command's and option's help says it in Chinese, with the English."""

from __future__ import annotations

import re
from typing import Any

from clirun import cli
from typer.main import get_command

from renew_fsm.cli import app

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{3,}")


def walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        out += walk(sub, (*path, name))
    return out


def test_every_command_and_option_help_is_chinese_with_english() -> None:
    missing = []
    for path, command in walk(get_command(app)):
        first = (command.help or "").strip().splitlines()[0] if command.help else ""
        if not (CJK.search(first) and LATIN.search(first)):
            missing.append((" ".join(path), first))
        for param in command.params:
            text = getattr(param, "help", None)
            if text and not (CJK.search(text) and LATIN.search(text)):
                missing.append((" ".join(path), param.name, text))
    assert not missing, missing


def test_the_help_screen_shows_both() -> None:
    shown = cli("stats", "--help")
    assert shown.returncode == 0
    assert "考核" in shown.stdout and "statistics" in shown.stdout
