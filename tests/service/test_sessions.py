"""Sessions in the store: what the nightly sweep removes, and what it keeps."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import make_engine
from server import make_account, password

import renew_fsm
from renew_fsm import Refused
from renew_fsm.service.sessions import SignInRules, purge, resolve, sign_in, sign_out


def test_the_sweep_removes_ended_sessions_and_spent_counts_only(sql_url: str) -> None:
    url = sql_url
    make_engine(url).close()
    account = make_account(url, "institution", "H1")
    engine = renew_fsm.open(url)
    try:
        rules = SignInRules(token_ttl=dt.timedelta(hours=8))
        kept, _ = sign_in(engine, rules, account, password(account))
        ended, _ = sign_in(engine, rules, account, password(account))
        sign_out(engine, ended)
        with pytest.raises(Refused):
            sign_in(engine, rules, "ghost", "guess")
        now = dt.datetime.now(dt.UTC)
        assert purge(engine.storage, now) == 1  # the signed-out session; the ghost's count is recent
        assert resolve(engine, kept).account == account
        assert purge(engine.storage, now + dt.timedelta(days=2)) == 2  # the expired one, the stale count
        assert engine.storage.meta_with_prefix("session:") == engine.storage.meta_with_prefix("signin:") == []
    finally:
        engine.close()
