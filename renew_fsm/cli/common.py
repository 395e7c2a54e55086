"""What every command shares: the app, the consoles, opening the database."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

import renew_fsm

app = typer.Typer(
    name="renew-fsm",
    help="China's physician periodic assessment (医师定期考核) as explicit state machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
#: Piped output gets room for the wide statistics tables instead of 80 columns.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_DB = os.environ.get("RENEW_FSM_DB", "renew-fsm.db")
DB_HELP = "Database: a SQLite file path, ':memory:', or postgresql://… (env RENEW_FSM_DB)"


def open_db(url: str) -> renew_fsm.Engine:
    return renew_fsm.open(url)
