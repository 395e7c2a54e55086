"""The worker processes of the concurrency tests: each opens its own engine on the shared store.

A worker takes rounds from its queue — a list of commands — meets the other
workers at a barrier so they start together, fires the commands in the
round's order (the same shuffle in every worker, so they reach each doctor at
about the same moment and really collide), and sends back what happened.
"""

from __future__ import annotations

import random
import traceback
from typing import Any

import renew_fsm
from renew_fsm import Actor, Fire, Refused, View

#: (doctor, event, actor role, actor id, data, idempotency key)
Command = tuple[str, str, str, "str | None", "dict[str, Any]", "str | None"]
#: (doctor, event, "ok" or the refusal's code, the rule, the view after an accepted command, the data)
Outcome = tuple[str, str, str, "str | None", "dict[str, Any] | None", "dict[str, Any]"]


def _outcome(cmd: Command, result: View | Refused) -> Outcome:
    if isinstance(result, Refused):
        return (cmd[0], cmd[1], result.code, result.rule, None, cmd[4])
    return (cmd[0], cmd[1], "ok", None, result.as_dict(), cmd[4])


def work(url: str, tasks: Any, barrier: Any, out: Any) -> None:
    """Run rounds until ``None``; a round is (commands, batched?, shuffle seed).  Never hangs the others."""
    engine = renew_fsm.open(url)
    try:
        while (task := tasks.get(timeout=120)) is not None:
            commands, batched, seed = task
            order = list(commands)
            random.Random(seed).shuffle(order)
            barrier.wait()
            if batched:
                fires = [Fire(d, e, Actor(role, aid), data, None, key) for d, e, role, aid, data, key in order]
                results = engine.fire_many(fires)
                out.put([_outcome(c, r) for c, r in zip(order, results, strict=True)])
                continue
            outcomes = []
            for cmd in order:
                d, event, role, aid, data, key = cmd
                try:
                    result: View | Refused = engine.fire(d, event, Actor(role, aid), data, idempotency_key=key)
                except Refused as refused:
                    result = refused
                outcomes.append(_outcome(cmd, result))
            out.put(outcomes)
    except BaseException:  # report, and let the others go
        barrier.abort()
        out.put([("!", "!", traceback.format_exc(), None, None, {})])
    finally:
        engine.close()
