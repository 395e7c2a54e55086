"""A retry racing its own first attempt: the engine that finds the key already used must answer with
the doctor as that attempt left them, not as it read them a moment before.

Six processes firing one keyed ``enroll`` after a barrier got ('not_enrolled', 0) in 4 of 36 answers
on PostgreSQL (and now and then on SQLite): ``Gate.decide`` loads the doctor, then looks the key
up; another engine committing in between makes the key found but the loaded view stale.  Storage
reads each statement fresh — the stale view was the engine's own; it now reads the doctor again when
the key names a record newer than what it read.
"""

from __future__ import annotations

from typing import Any

from conftest import H1, make_engine

import renew_fsm


def test_a_key_another_engine_used_after_this_one_read_gives_the_current_view(url: str) -> None:
    first = make_engine(url)
    other = renew_fsm.Engine(first.storage)  # a second engine on the same store, as another process
    look_up = first.storage.find_idempotent

    def other_commits_in_between(*args: Any) -> Any:
        del first.storage.find_idempotent  # once
        other.fire("D1", "enroll", H1, idempotency_key="same-key")
        return look_up(*args)

    first.storage.find_idempotent = other_commits_in_between  # type: ignore[method-assign]
    view = first.fire("D1", "enroll", H1, idempotency_key="same-key")
    assert (view.state, view.version) == ("enrolled", 1)
    assert len(first.history("D1")) == 1
    first.close()
