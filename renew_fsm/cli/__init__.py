"""The ``renew-fsm`` command line: thin commands over the library's public functions.

Each command parses its options, calls the library and prints.  A user's
mistake (a refused command, a bad policy file, an unreachable database, an
output file in a folder that does not exist) ends
with a one-line message and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import logging
import sys

from ..errors import Refused
from ..rules.policy import PolicyError
from ..storage import StorageError

# Each module adds its commands to ``app``.
from . import forms as _forms  # noqa: F401
from . import importer as _importer  # noqa: F401
from . import machines as _machines  # noqa: F401
from . import policy as _policy  # noqa: F401
from . import records as _records  # noqa: F401
from . import report as _report  # noqa: F401
from . import results as _results  # noqa: F401
from . import service as _service  # noqa: F401
from . import simulate as _simulate  # noqa: F401
from . import store as _store  # noqa: F401
from .common import app, console, err


def main() -> None:
    """Usage errors are click's (exit 2); our refusals and bad files end here (exit 1)."""
    # What the library says on its loggers while a command runs (a writer kept waiting for
    # another) goes to stderr as a plain line, beside the progress bars.
    library = logging.getLogger("renew_fsm")
    for old in [h for h in library.handlers if h.get_name() == "renew-fsm cli"]:
        library.removeHandler(old)  # main() run again in one process (tests) says each line once
    said = logging.StreamHandler(sys.stderr)
    said.set_name("renew-fsm cli")
    said.setFormatter(logging.Formatter("%(message)s"))
    library.addHandler(said)
    library.setLevel(logging.INFO)
    try:
        app()
    except Refused as refused:
        rule = f" [{refused.rule}]" if refused.rule else ""
        # One line (scripts grep it): the code and the English with its ids, then the Chinese.
        zh = f" / {refused.message_zh}" if refused.message_zh and refused.message_zh != refused.message else ""
        err.print(f"refused: {refused.code}{rule}: {refused.message}{zh}", markup=False)
        sys.exit(1)
    except (PolicyError, StorageError, OSError) as exc:
        # OSError: a file the command was told to write or read that cannot be (no such folder,
        # no permission, a full disk) — the user's environment, said in one line too.
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)


__all__ = ["app", "console", "main"]
