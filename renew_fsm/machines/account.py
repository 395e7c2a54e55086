"""Accounts (账号) — one case per account, its subject the holder (``<role>:<id>``).

Read it next to the manual (卫生行政机构 2.2.1 账户管理, 2.2.3 所辖机构账户管理; 卫生机构
2.2.1; 2.2.5 (1) 密码重置): an account is created by its superior, activated (单个或批量
激活), and until it is activated it can be deleted; the first login must replace the
initial password before anything else is allowed; the superior resets a forgotten
password, which sends the account back to "must replace".

Departing from the manual on purpose: there is no shared initial password (666666).
Activating or resetting issues a one-time secret per account, handed once to whoever
activated or reset it; only a scrypt hash is stored, never the secret, never in history.
The superior of an institution's account is the authority over it; of a doctor's, the
doctor's institution (or the authority); of a county's or a city's authority, any authority
above it; of a province's, the national system operator (``system``, 全国定考办).
The holder acts on its own account only as ``account`` (signed in with its secret).

Over its whole life (issue 36): until it is activated the superior may edit it (修改账号信息:
its display name; who holds it is fixed — a wrong holder is a deleted account and a new one);
once activated it is never deleted but deactivated (注销), which keeps its history and its id
(nobody else is given it), ends its tokens and refuses every sign-in.  A deactivated holder may
be given a new account.
"""

from __future__ import annotations

from .dsl import STAY, Event, Machine, Param, State, Transition
from .vocabulary import ACCOUNT, ADMIN, INSTITUTION, SYSTEM

SUPERIOR = (ADMIN, INSTITUTION, SYSTEM)

EVENTS: dict[str, Event] = {
    "create_account": Event("新增账号", "create the account", (Param("name", "text", required=False),)),
    "activate_account": Event("激活账号", "activate the account"),
    "delete_account": Event("删除未激活账号", "delete the never-activated account"),
    "change_password": Event("修改密码", "replace the password", via="change_password"),
    "reset_password": Event("重置密码", "reset the password"),
    "edit_account": Event("修改账号信息", "edit the account before activation", (Param("name", "text"),)),
    "deactivate_account": Event("注销账号", "deactivate the account", (Param("reason", "text", required=False),)),
}

ACCOUNT_MACHINE = Machine(
    "account",
    "账号",
    "an account",
    initial="new",
    states=[
        State("new", "未新增", "not created"),
        State("created", "已新增，未激活", "created, not activated"),
        State("must_change", "已激活，首次登录须修改初始密码", "activated: the initial secret must be replaced"),
        State("active", "正常使用", "in use"),
        State("deleted", "已删除", "deleted", final=True),
        State("deactivated", "已注销", "deactivated", final=True),
    ],
    events=EVENTS,
    transitions=[
        Transition("create_account", "new", "created", SUPERIOR, then="remember:name"),
        Transition("activate_account", "created", "must_change", SUPERIOR),
        Transition("delete_account", "created", "deleted", SUPERIOR),
        Transition("change_password", "must_change", "active", ACCOUNT),
        Transition("change_password", "active", STAY, ACCOUNT),
        Transition("reset_password", ("must_change", "active"), "must_change", SUPERIOR, then="count:resets"),
        Transition("edit_account", "created", STAY, SUPERIOR, then="remember:name"),
        Transition("deactivate_account", ("must_change", "active"), "deactivated", SUPERIOR, then="remember:reason"),
    ],
)
