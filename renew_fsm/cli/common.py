"""What every command shares: the app, the consoles, choosing and opening the database, writing --out."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

import renew_fsm

from ..storage.url import StoreURL

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


def _print_version(value: bool) -> None:
    if value:
        console.print(f"renew-fsm {renew_fsm.__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit. 显示版本号。"
    ),
) -> None:
    """China's physician periodic assessment (医师定期考核) as explicit state machines."""


ENV_DB = "RENEW_FSM_DB"
#: The store of a command that is given neither --db nor RENEW_FSM_DB.
DEFAULT_DB = "renew-fsm.db"
DB_HELP = (
    f"数据库 / database: a SQLite file path, ':memory:', or postgresql://… (default: ${ENV_DB}, else {DEFAULT_DB})"
)


class Where(str):
    """A database URL that remembers where it was named: ``--db``, ``RENEW_FSM_DB`` or a default."""

    source: str

    def __new__(cls, url: str, source: str) -> Where:
        self = super().__new__(cls, url)
        self.source = source
        return self


def fail(message: str, status: int = 1) -> NoReturn:
    """End the command with one ``error:`` line (never a traceback)."""
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(status)


def choose_db(given: str | None, default: str = DEFAULT_DB) -> Where:
    """The store a command uses: ``--db``, else ``RENEW_FSM_DB``, else the command's own default.

    Every command reads the variable the same way, so an office that sets it once
    (a systemd unit, a shell profile) reaches the same store with each of them.
    Empty is a mistake, not "the default": SQLite would open ``""`` as a throwaway
    temporary database and a write would vanish at exit.
    """
    if given is not None:
        if not given.strip():
            fail("an empty --db names no database: give a SQLite file (--db cycle.db) or a postgresql:// URL")
        return Where(given, "--db")
    env = os.environ.get(ENV_DB)
    if env is not None:
        if not env.strip():
            fail(
                f"{ENV_DB} is set but empty: set it to a database (a SQLite file or a postgresql:// URL), "
                f"unset it, or give --db"
            )
        return Where(env, ENV_DB)
    return Where(default, "default")


def missing(url: str) -> str | None:
    """The SQLite file ``url`` names when it does not exist (opening it would create an empty store)."""
    path = StoreURL.parse(url).path
    return path if path is not None and not Path(path).exists() else None


def open_db(url: str, *, create: bool = True, adopt_key: bool = True) -> renew_fsm.Engine:
    """``create=False`` for commands that only read, or that need a store already set up."""
    # A plain str: the store keeps the URL and hands it to worker processes, which unpickle it.
    from ..keys import KeyError_

    try:
        return renew_fsm.open(str(url), create=create, adopt_key=adopt_key)
    except KeyError_ as exc:
        fail(f"{exc} (the history key named by RENEW_FSM_KEY_FILE or RENEW_FSM_KEY)", 2)


def out_path(out: str, default_name: str) -> Path:
    """Where ``--out`` writes: an existing folder means a file named ``default_name`` inside it.

    A name ending in a slash is a folder too; one that does not exist is refused rather
    than taken for a file name (``exports/`` wrote ``exports.progress.csv`` beside it).
    """
    if not out.strip():
        fail("an empty --out names no file: give a file name (or leave --out out to print)")
    path = Path(out)
    if path.is_dir():
        return path / default_name
    if out.endswith(("/", os.sep)):
        fail(f"there is no folder {out}: create it first, or give a file name")
    return path


def write(path: Path, writer: Callable[[Path], object], note: str = "") -> None:
    """Run ``writer(path)``; a file that cannot be written ends in one line saying what to do."""
    try:
        writer(path)
    except IsADirectoryError:
        fail(f"{path} is a folder: give a file name inside it")
    except FileNotFoundError:
        fail(f"cannot write {path}: no folder {path.parent} (No such file or directory): create it first")
    except NotADirectoryError:
        fail(f"cannot write {path}: part of the way to it is a file, not a folder")
    except PermissionError:
        fail(f"cannot write {path}: permission denied — choose a folder you can write to")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            fail(f"cannot write {path}: the disk is full")
        fail(f"cannot write {path}: {exc.strerror or exc}")
    console.print(f"wrote {path}{note}", markup=False, highlight=False)
