"""``renew-fsm --version`` names the installed version, the one a bug report needs."""

from __future__ import annotations

from pathlib import Path

from clirun import cli

import renew_fsm


def test_version_prints_the_package_version_and_exits_zero() -> None:
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"renew-fsm {renew_fsm.__version__}"


def test_the_package_declares_its_type_hints() -> None:
    """PEP 561: without ``py.typed`` a service's type checker ignores every hint we ship."""
    assert (Path(renew_fsm.__file__).parent / "py.typed").is_file()
