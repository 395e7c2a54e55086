"""``renew-fsm serve``, ``renew-fsm sweep`` and ``renew-fsm account``: running a province's service."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated

import typer

from ..errors import Refused
from ..model import Actor
from ..workflows import ONE_TIME_DAYS_ENV
from .common import DB_HELP, app, choose_db, console, fail, missing, open_db

#: The sweeps, in the order their windows close; each refuses to run while its window is open.
SWEEPS = ("close_first_round", "close_makeup", "close_reexam")
SYSTEM = Actor("system")


def _shown(url: str) -> str:
    """``url`` for a log line: without its password."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", url)


def _existing(db: str | None, create: bool = False) -> str:
    url = choose_db(db)
    path = missing(url)
    if path is not None and not create:
        fail(f"no database at {path}: check --db (or give --create to start an empty store there)")
    return str(url)


@app.command()
def serve(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    host: str = typer.Option("127.0.0.1", help="监听地址 / Address to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(8000, help="端口 / TCP port"),
    workers: int = typer.Option(1, min=1, help="工作进程数 / Worker processes"),
    pool_size: int | None = typer.Option(
        None,
        "--pool-size",
        min=1,
        help="每个工作进程的数据库连接数 / Database connections per worker (default: workers × pool ≤ 40)",
    ),
    create: bool = typer.Option(
        False, "--create", help="SQLite 文件不存在时新建 / Create the store if the SQLite file does not exist"
    ),
    rehearsal: bool = typer.Option(
        False,
        "--rehearsal",
        help="演练：允许时钟已固定的数据库 / "
        "Serve a store whose clock a `clock` command pinned (a rehearsal, not live)",
    ),
    busy_timeout: float = typer.Option(
        2.0, "--busy-timeout", help="SQLite 写入等待锁的秒数 / Seconds a SQLite write waits for a lock"
    ),
    token_hours: float = typer.Option(8.0, "--token-hours", help="登录有效时长 / How long a sign-in lasts"),
    lockout_failures: int = typer.Option(
        5, "--lockout-failures", min=1, help="锁定前允许的登录失败次数 / Failed sign-ins before a lock"
    ),
    lockout_minutes: float = typer.Option(
        15.0, "--lockout-minutes", help="账号锁定时长 / How long an account stays locked"
    ),
    one_time_days: int = typer.Option(
        14, "--one-time-days", min=1, help="一次性初始密码有效天数 / Days a one-time secret stays valid"
    ),
    jwt_issuer: str | None = typer.Option(
        None, "--jwt-issuer", help="统一身份认证：签发者 iss / Trusted issuer (single sign-on): its iss"
    ),
    jwt_audience: str | None = typer.Option(
        None, "--jwt-audience", help="统一身份认证：受众 aud / Trusted issuer: the aud it signs for"
    ),
    jwt_public_key: str | None = typer.Option(
        None,
        "--jwt-public-key",
        help="统一身份认证：签发者公钥 / Trusted issuer: its public key (PEM file, RS256 or ES256)",
    ),
    openapi: bool = typer.Option(
        False, "--openapi", help="输出接口说明（OpenAPI）后退出 / Print the OpenAPI description and exit"
    ),
) -> None:
    """运行 HTTP 服务 / serve the store over HTTP: signed-in accounts, a bounded pool of database connections."""
    try:
        import uvicorn

        from ..service import Settings, create_app, default_pool
        from ..service.schemas import openapi_text
    except ImportError as exc:
        fail(f"the service needs its extra: pip install 'renew_fsm[service]' ({exc})")
    if openapi:
        print(openapi_text(create_app(Settings(db="memory:")).app), end="")  # type: ignore[attr-defined]
        return
    key = _issuer_key(jwt_issuer, jwt_audience, jwt_public_key)  # before anything is opened or made
    url = _existing(db, create)
    engine = open_db(url, create=create)
    try:
        pinned = engine.storage.get_meta("clock")
    finally:
        engine.close()
    if pinned and not rehearsal:
        fail(
            f"this store's clock was pinned to {pinned} by a `clock` command (a rehearsal or a test): a live "
            "service judges every window by the wall clock. Serve a live store, or give --rehearsal"
        )
    pool = pool_size or default_pool(workers)
    settings = Settings(
        db=url,
        pool_size=pool,
        busy_timeout=busy_timeout,
        token_ttl=token_hours * 3600,
        failures=lockout_failures,
        lockout_minutes=lockout_minutes,
        rehearsal=rehearsal,
        jwt_issuer=jwt_issuer,
        jwt_audience=jwt_audience,
        jwt_public_key=key,
    )
    os.environ["RENEW_FSM_SERVICE"] = settings.to_env()
    # Read by the engine when a one-time secret is used; the workers inherit it.
    os.environ[ONE_TIME_DAYS_ENV] = str(one_time_days)
    clock = f" · rehearsal clock {pinned}" if pinned else ""
    clock += f" · trusted issuer {jwt_issuer}" if key else ""
    print(
        f"renew-fsm serve: http://{host}:{port} · db {_shown(url)} · {workers} worker(s) × pool {pool} "
        f"= at most {workers * pool} database connections{clock}",
        flush=True,
    )
    uvicorn.run(
        "renew_fsm.service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        # On SIGTERM, requests in flight get this long to finish; a client holding a connection open
        # does not keep the service from stopping.
        timeout_graceful_shutdown=10,
    )


def _issuer_key(issuer: str | None, audience: str | None, key_file: str | None) -> str | None:
    """The trusted issuer's public key, when all three settings are given (and none otherwise)."""
    given = [issuer is not None, audience is not None, key_file is not None]
    if not any(given):
        return None
    if not all(given):
        fail("a trusted issuer needs all three: --jwt-issuer, --jwt-audience and --jwt-public-key")
    try:
        import jwt  # noqa: F401
    except ImportError:
        fail("a trusted issuer needs PyJWT: pip install 'renew_fsm[sso]'")
    try:
        text = Path(key_file).read_text(encoding="utf-8")  # type: ignore[arg-type]
    except OSError as exc:
        fail(f"cannot read --jwt-public-key {key_file}: {exc.strerror or exc}")
    if "PUBLIC KEY" not in text:
        fail(f"--jwt-public-key {key_file} is not a PEM public key (-----BEGIN PUBLIC KEY-----)")
    return text


@app.command()
def sweep(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    at: str | None = typer.Option(
        None, "--at", help="判断所依据的时间 / Judge as of this time, ISO 8601 (default: the store's clock)"
    ),
) -> None:
    """夜间定时任务 / the nightly job: close every window that has ended, and produce the requested exports.

    Sweeps are idempotent and refuse to run before their window is over, so a
    scheduler runs this every night: a night before a window closes does nothing,
    the night after moves the doctors who did not finish, every later night finds nobody.
    """
    url = _existing(db)
    when = None
    if at is not None:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            fail(f"--at {at!r} is not an ISO 8601 time (2021-06-28T00:10:00+08:00)")
    engine = open_db(url, create=False)
    try:
        for event in SWEEPS:
            try:
                moved = engine.sweep(event, when)
                console.print(f"{event}: {moved}", markup=False, highlight=False)
            except Refused as refused:
                if refused.rule != "window_still_open":
                    raise
                console.print(f"{event}: window still open", markup=False, highlight=False)
        produced = 0
        for case in engine.cases("export_request"):
            if engine.case_state("export_request", case).state == "requested":
                engine.case_fire("export_request", case, "produce_export", SYSTEM)
                produced += 1
        console.print(f"exports produced: {produced}", markup=False, highlight=False)
        from ..service.sessions import purge

        console.print(f"ended sessions removed: {purge(engine.storage)}", markup=False, highlight=False)
    finally:
        engine.close()


account_app = typer.Typer(
    help=(
        "账号管理：首个省级账号、重置、修改 / 注销 / 导出 / accounts: a province's first admin, a reset, "
        "and edit / deactivate / export as a superior (--as)."
    ),
    no_args_is_help=True,
)
app.add_typer(account_app, name="account")


@account_app.command("create")
def account_create(
    account: str = typer.Argument(..., help="新账号（登录名） / The new account's id (what its holder signs in with)"),
    holder: str = typer.Option(
        ...,
        "--holder",
        help="账号所属 / "
        "Whose it is: admin:<region>, institution:<id>, agency:<id>, doctor:<id>, exam_system:<province>",
    ),
    name: str | None = typer.Option(None, "--name", help="显示名称 / A display name"),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """新增并激活账号 / create and activate an account as the system operator; prints its one-time secret, once.

    For a province's first admin (admin:<province>) and its testing app
    (exam_system:<province>); everyone else's account is made by their superior
    through the service.  The holder signs in with the secret and must replace it first.
    """
    engine = open_db(_existing(db), create=False)
    try:
        engine.case_fire("account", account, "create_account", SYSTEM, {"name": name} if name else {}, subject=holder)
        secret = engine.case_fire("account", account, "activate_account", SYSTEM).secret
    finally:
        engine.close()
    _print_secret(account, holder, secret)


@account_app.command("reset")
def account_reset(
    account: str = typer.Argument(..., help="忘记密码的账号 / The account whose password was forgotten"),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """重置密码 / reset an account's password as the system operator; prints a new one-time secret, once."""
    engine = open_db(_existing(db), create=False)
    try:
        view = engine.case_fire("account", account, "reset_password", SYSTEM)
    finally:
        engine.close()
    _print_secret(account, view.subject, view.secret)


AS_HELP = (
    "操作人：账号上级的 角色:编号，或 system（默认） / "
    "who acts: ROLE:ID of the account's superior (admin:NN, institution:H1), or system (the default)"
)


@account_app.command("edit")
def account_edit(
    account: str = typer.Argument(..., help="未激活的账号 / an account not yet activated"),
    name: str = typer.Option(..., "--name", help="新的显示名称 / its new display name"),
    who: str = typer.Option("system", "--as", help=AS_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """修改账号信息: edit an account before it is activated (afterwards: deactivate it, make a new one)."""
    from .records import actor_of

    actor = actor_of(who)
    engine = open_db(_existing(db), create=False)
    try:
        view = engine.case_fire("account", account, "edit_account", actor, {"name": name})
    finally:
        engine.close()
    console.print(f"account {account} ({view.subject}) is now named {name}", markup=False, highlight=False)


@account_app.command("deactivate")
def account_deactivate(
    account: str = typer.Argument(..., help="已激活的账号 / an activated account"),
    reason: str | None = typer.Option(None, "--reason", help="注销原因（记入历史） / why (kept in its history)"),
    who: str = typer.Option("system", "--as", help=AS_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """注销账号: the account can no longer sign in and every token of it ends; its history stays."""
    from .records import actor_of

    actor = actor_of(who)
    engine = open_db(_existing(db), create=False)
    try:
        view = engine.case_fire("account", account, "deactivate_account", actor, {"reason": reason} if reason else {})
    finally:
        engine.close()
    console.print(f"account {account} ({view.subject}) is deactivated", markup=False, highlight=False)


@account_app.command("export")
def account_export(
    who: str = typer.Option(
        "system",
        "--as",
        help="查询人：admin:<地区>、institution:<机构> 或 system / who asks: admin:<region>, institution:<id>, system",
    ),
    region: str | None = typer.Option(
        None, "--region", help="只列出该地区的账号持有者 / only the holders in this region"
    ),
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="只列出该状态的账号（可重复） / only accounts in this state (repeatable)"),
    ] = None,
    out: str | None = typer.Option(
        None,
        "--out",
        help="导出 xlsx 到此文件或文件夹，否则输出 JSON / write an xlsx here (a file or a folder); else print JSON",
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """导出: the accounts the caller manages (never a secret or a hash), as xlsx or JSON."""
    import json

    from ..accounts import account_sheet
    from ..lists import to_xlsx
    from .common import out_path, write
    from .records import actor_of

    actor = actor_of(who)
    engine = open_db(_existing(db), create=False)
    try:
        sheet = account_sheet(engine, actor, region=region, states=state or None)
    finally:
        engine.close()
    if out is None:
        rows = [dict(zip(sheet.headers, row, strict=True)) for row in sheet.rows]
        console.print_json(json.dumps(rows, ensure_ascii=False))
        return
    path = out_path(out, "accounts.xlsx")
    data = to_xlsx(sheet, sheet.title)
    write(path, lambda p: Path(p).write_bytes(data), f" ({len(sheet.rows)} rows)")


def _print_secret(account: str, holder: str, secret: str | None) -> None:
    console.print(f"account {account} ({holder}) is active", markup=False, highlight=False)
    console.print(f"one-time secret: {secret}", markup=False, highlight=False)
    console.print(
        "Hand it to the holder privately; it is shown only now. The first sign-in must replace it "
        "(POST /session/password), and it expires unused.",
        markup=False,
        highlight=False,
    )
