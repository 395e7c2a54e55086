"""The ``renew-fsm`` command line: thin commands over the library's public functions.

Each command parses its options, calls the library and prints.  A user's
mistake (a refused command, a bad policy file, an unreachable database) ends
with a one-line message and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from ..errors import Refused
from ..rules.policy import PolicyError
from ..storage import StorageError

# Each module adds its commands to ``app``.
from . import machines as _machines  # noqa: F401
from . import policy as _policy  # noqa: F401
from . import store as _store  # noqa: F401
from .common import app, console, err


def main() -> None:
    try:
        app(standalone_mode=False)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None)
        sys.exit(code if code is not None else getattr(exc, "code", 0))
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Refused as refused:
        rule = f" [{refused.rule}]" if refused.rule else ""
        err.print(f"refused: {refused.code}{rule}: {refused.message}")
        sys.exit(1)
    except (PolicyError, StorageError) as exc:
        err.print(f"error: {exc}")
        sys.exit(1)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


__all__ = ["app", "console", "main"]
