"""An opened store registers ``None`` as adapted to itself for ``sqlite3`` (it binds faster): every value
a program binds must still bind as it did, a host's own ``None`` adapter must stay the host's, and
importing the package registers nothing."""

from __future__ import annotations

import subprocess
import sys

TYPES = "import sqlite3; print([sqlite3.connect(':memory:').execute('SELECT typeof(?)', (v,)).fetchone()[0]"
TYPES += " for v in (None, 1, 1.5, 'x', b'x', 2**62)])"


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_values_bind_as_without_the_store() -> None:
    without = run(TYPES)
    assert without == "['null', 'integer', 'real', 'text', 'blob', 'integer']"
    assert run("import renew_fsm; renew_fsm.open(':memory:'); " + TYPES) == without


def test_importing_the_package_registers_no_adapter() -> None:
    probe = "import sqlite3; print((type(None), sqlite3.PrepareProtocol) in sqlite3.adapters)"
    assert run("import renew_fsm, renew_fsm.storage.sqlite; " + probe) == "False"
    assert run("import renew_fsm; renew_fsm.open(':memory:'); " + probe) == "True"


def test_a_hosts_none_adapter_is_kept() -> None:
    code = (
        "import sqlite3; sqlite3.register_adapter(type(None), lambda v: 'host'); import renew_fsm; "
        "renew_fsm.open(':memory:'); "
        "print(sqlite3.connect(':memory:').execute('SELECT ?', (None,)).fetchone()[0])"
    )
    assert run(code) == "host"
