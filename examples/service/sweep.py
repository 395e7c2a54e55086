"""The nightly job: close whatever window has ended (首轮考核结束, 补考结束, 再次考核结束).

    python examples/service/sweep.py --db cycle.db            # or a postgresql://… URL

Sweeps are idempotent and refuse to run before their window is over, so the
scheduler simply runs this every night (docs/guide.md has cron and systemd
examples): a night before a window closes does nothing, the night after moves
the doctors who did not finish to ``unqualified`` (``absent``), and every later
night finds nobody.  Exit status 0 unless a sweep failed for another reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

import renew_fsm
from renew_fsm import Refused

SWEEPS = ("close_first_round", "close_makeup", "close_reexam")


def run(url: str, at: dt.datetime | None = None) -> dict[str, int | str]:
    """Each sweep's count of doctors moved, or why it did not run."""
    engine = renew_fsm.open(url)
    out: dict[str, int | str] = {}
    try:
        for event in SWEEPS:
            try:
                out[event] = engine.sweep(event, at)
            except Refused as refused:
                if refused.rule != "window_still_open":
                    raise
                out[event] = "window still open"
    finally:
        engine.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=os.environ.get("RENEW_FSM_DB", "cycle.db"))
    parser.add_argument("--at", type=dt.datetime.fromisoformat, help="judge as of this time (default: now)")
    args = parser.parse_args()
    try:
        for event, moved in run(args.db, args.at).items():
            print(f"{event}: {moved}")
    except Refused as refused:
        print(f"sweep refused: {refused.code} {refused.rule or ''}: {refused.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
