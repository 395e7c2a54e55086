"""The worker of the race tests: a separate process with its own engine on the shared store."""

from __future__ import annotations

from typing import Any

import renew_fsm
from renew_fsm import Actor, Refused


def race(
    url: str, doctors: list[str], event: str, role: str, barrier: Any, at_commit: Any, out: Any, keyed: bool = False
) -> None:
    """Fire ``event`` on each doctor in turn, meeting the other process at ``barrier`` before each.

    With ``at_commit`` the two processes also meet just before writing, so both
    have read the instance before either commits: the database must refuse one.
    With ``keyed`` both send the same idempotency key, as a client's retry would.
    """
    engine = renew_fsm.open(url)
    if at_commit is not None:
        commit = engine.storage.commit

        def meet_then_commit(*args: Any, **kwargs: Any) -> None:
            at_commit.wait()
            commit(*args, **kwargs)

        engine.storage.commit = meet_then_commit  # type: ignore[method-assign]
    results: list[tuple[str, str]] = []
    try:
        for did in doctors:
            actor = Actor("doctor", did) if role == "doctor" else Actor(role, "H1")
            barrier.wait()
            try:
                engine.fire(did, event, actor, idempotency_key=f"{did}-{event}" if keyed else None)
                results.append((did, "ok"))
            except Refused as refused:
                results.append((did, refused.code))
    except BaseException as exc:  # report, never hang the other side
        results.append(("!", f"{type(exc).__name__}: {exc}"))
        barrier.abort()
        if at_commit is not None:
            at_commit.abort()
    finally:
        engine.close()
        out.put(results)
