"""Simulate one province's cycle end to end, through the same engine path as every caller.

The cycle runs in calendar order: registration, the first round, its closing
sweep, grading, suspension, the re-exam list, the make-up, the re-exam and
the last sweeps.  A pass streams over the doctors in the states its phases
concern and takes each doctor through them (``behaviour``'s plans, a sweep's
system event) in batches, one transaction each.  What a phase does to a
doctor depends on that doctor alone, so once the province is built the cycle
is one pass (``passes``): each page of doctors added and taken from
enrolment to the end of the cycle as it is added (``Engine.drive_new``).
Phases act on state, and every draw is keyed by (seed, doctor, phase), so an
interrupted run resumes where it stopped and ends with the same figures.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import queue
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, NamedTuple
from urllib.request import pathname2url

import attrs

from ..engine import Engine, Fire
from ..errors import Refused
from ..model import Actor, Doctor, Instance, View
from ..ops import parse as parse_op
from ..rules.policy import Policy
from ..rules.policy import load as load_policy
from ..rules.policy import parse as parse_policy
from ..stats import Stats, compute
from ..storage import StorageError
from ..tuning import GC_THRESHOLDS, streaming_gc
from . import behaviour as b
from . import runlock
from .profile import Profile
from .profile import load as load_profile
from .profile import parse as parse_profile
from .province import doctor_commands, doctor_id, world_commands

#: progress(phase, doctors seen in the last page, events accepted in it)
Progress = Callable[[str, int, int], None]
SETUP_CHUNK = 20_000
#: Below this many doctors one process is faster than two.
PARALLEL_FROM = 20_000
#: From this many doctors, one worker more than the cores: at the nation's size the workers wait on
#: each other's write lock and on the disk, and two left two cores 7–8 % idle (vmstat); a third
#: fills it.  4.8M doctors: 628 s with two, 606 s with three; 1M, interleaved: 117.6 and 115.5 s →
#: 115.3 and 113.0 s; 200k: no difference either way.
OVERLAP_FROM = 1_000_000
#: Twice the nation's 4.8 million doctors: beyond it a run is a typo, and the setup would fill the
#: memory (a billion doctors grew it by 100 MB/s with nothing on the screen) before failing.
MAX_DOCTORS = 10_000_000
#: A page is loaded, decided and committed whole: past this it costs memory and speeds nothing up,
#: and a number beyond SQLite's 64-bit integers failed only after the run had been started.
MAX_BATCH = 100_000
#: Each worker is a process with its own connection: more than this only crowds the database.
MAX_WORKERS = 64
#: Seconds between the parent's copies of the log back into the database while workers write
#: (``_Pool._copy_back``).  Two workers at 200,000 doctors added 1,500–3,000 pages to the log in
#: 0.3 s at a slow hour, so at the fastest hour still well under the commits' own
#: ``CHECKPOINT_PAGES`` in 0.25 s: theirs rarely comes due.
COPY_BACK_EVERY = 0.25


class SimulationError(ValueError):
    """The store holds another simulation, or a resume does not match the run it continues."""


class WorkerDied(SimulationError, BrokenProcessPool):
    """A worker process was killed (the out-of-memory killer, ``kill -9``); the pages it committed are kept.

    Also a ``BrokenProcessPool``, which is what a caller of the pool would catch.
    """


def check_size(doctors: int, batch: int, workers: int | None = None) -> None:
    """Refuse sizes no province has, before anything is written (``SimulationError``)."""
    if doctors < 1:
        raise SimulationError("--doctors must be at least 1")
    if doctors > MAX_DOCTORS:
        raise SimulationError(
            f"--doctors {doctors:,} is more than {MAX_DOCTORS:,} (twice the nation's 4.8 million doctors)"
        )
    if batch < 1:
        raise SimulationError("--batch must be at least 1")
    if batch > MAX_BATCH:
        raise SimulationError(
            f"--batch {batch:,} is more than {MAX_BATCH:,} doctors per transaction (the default 2000 is as fast)"
        )
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise SimulationError(f"--workers is between 1 and {MAX_WORKERS} (one per core is the fastest)")


def discard(url: str) -> None:
    """Delete the SQLite store at ``url`` if it holds a simulation, so a run can start again there.

    Only a simulation is deleted: a store holding a real cycle, or a file that is
    not a renew-fsm database at all, is refused (``SimulationError``) and left as
    it is.  A file that does not exist, or a renew-fsm store with nothing in
    it yet, is nothing to delete.  A PostgreSQL store is refused too: the storage protocol
    has no way to empty one, and dropping tables on a shared server is not
    something an option of a rehearsal should do.
    """
    if url.startswith(("postgres://", "postgresql://")):
        raise SimulationError(
            "--replace deletes a SQLite file and never empties a PostgreSQL database: "
            "give another database or schema (or drop this one's tables yourself)"
        )
    path = sqlite_path(url)
    if path is None:
        return  # in memory: every run starts empty
    kind = store_kind(path)
    if kind == "simulation":
        remove_store(path)
        return
    if kind == "cycle":
        raise SimulationError(f"{path} holds a cycle that is not a simulation; --replace only replaces a simulation")
    if kind == "foreign":
        raise SimulationError(f"{path} is not a renew-fsm database; --replace only replaces a simulation")


def remove_store(path: str) -> None:
    """The SQLite file at ``path`` and what SQLite and the writers' queue keep beside it."""
    for suffix in ("", "-wal", "-shm", "-writer"):
        Path(path + suffix).unlink(missing_ok=True)


def sqlite_path(url: str) -> str | None:
    """The file behind a SQLite URL; None for PostgreSQL and in-memory stores."""
    if url.startswith(("postgres://", "postgresql://")) or url in (":memory:", "memory:", "memory://"):
        return None
    if url.startswith("file::memory:"):
        return None
    return url[len("sqlite:///") :] if url.startswith("sqlite:///") else url


def store_kind(path: str) -> str:
    """What the file at ``path`` is: ``missing``; ``simulation``; ``empty`` (a renew-fsm store with nothing
    in it yet); ``cycle`` (a renew-fsm store with a province's own regions or policy); ``foreign`` (not a
    renew-fsm database).

    Read-only and without the library: opening a file the usual way gives it the
    schema (or upgrades an older one), which would change someone's notes, another
    program's database or an office's cycle before we could say no.
    """
    if not os.path.lexists(path):
        return "missing"
    if os.path.isdir(path):
        return "foreign"
    # With no write-ahead log beside it the file holds everything: read it as an unchanging file,
    # which leaves no -shm and -wal behind.  With one, read through it (a run's first rows may be there).
    mode = "mode=ro" if os.path.exists(f"{path}-wal") else "immutable=1"
    try:
        conn = sqlite3.connect(f"file:{pathname2url(os.path.abspath(path))}?{mode}", uri=True, timeout=5)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('schema_version', 'simulation')"))
            if "simulation" in meta:
                return "simulation"
            if "schema_version" not in meta:
                return "foreign"
            # What ``holds_a_cycle`` asks of an open engine, asked of the tables every schema version has.
            tables = ("regions", "institutions", "agencies", "policies")
            held = any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0] for t in tables)
        finally:
            conn.close()
    except sqlite3.Error:
        return "foreign"  # not SQLite, or SQLite without our tables
    return "cycle" if held else "empty"


@attrs.frozen
class Phase:
    name: str
    zh: str
    states: tuple[str, ...] = ()
    plan: Callable[..., b.Plan] | None = None
    #: A sweep instead of plans: the system event, fired the day after ``window`` closes.
    sweep: str | None = None
    window: str | None = None


PHASES: tuple[Phase, ...] = (
    Phase("registration", "报名与考核程序", ("not_enrolled",), b.registration),
    Phase("first_round", "首轮考核", b.TESTING, b.first_round),
    Phase("close_first_round", "首轮考核结束", sweep="close_first_round", window="first_round"),
    Phase("grading", "评定首轮成绩", b.AWAITING, b.grading("grading", resumed=False)),
    Phase("suspension", "暂停执业", ("unqualified",), b.suspension("grading")),
    Phase("listing", "确认再次考核名单", ("reexam.suspended",), b.listing),
    Phase("makeup", "延期医师补考", ("deferred",), b.makeup),
    Phase("close_makeup", "补考结束", sweep="close_makeup", window="makeup"),
    Phase("makeup_grading", "评定补考成绩", b.AWAITING, b.grading("makeup_grading", resumed=True)),
    Phase("reexam", "再次考核", ("reexam.listed",), b.reexam),
    Phase("reexam_grading", "评定再次考核", ("reexam.awaiting_grade",), b.reexam_grading),
    Phase("close_reexam", "再次考核结束", sweep="close_reexam", window="reexam"),
    Phase("makeup_suspension", "补考不合格暂停执业", ("unqualified",), b.suspension("makeup_grading")),
)

#: Where a doctor may stand once the simulated cycle is over.
END_STATES = frozenset(
    {"not_enrolled", "qualified", "unqualified", "reexam.suspended", "reexam_passed", "registration_cancelled"}
)


@attrs.frozen
class Result:
    doctors: int
    #: Accepted events (history records) of the cycle in the store.
    transitions: int
    seconds: float
    stats: Stats
    #: Refusals the profile did not intend (0 in a healthy run) and a sample of them.
    refusals: int
    samples: list[str]
    resumed_from: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "doctors": self.doctors,
            "transitions": self.transitions,
            "seconds": round(self.seconds, 3),
            "transitions_per_second": round(self.transitions / self.seconds) if self.seconds else None,
            **{k: v for k, v in self.stats.summary().items() if k != "doctors"},
            "refusals": self.refusals,
            "resumed_from": self.resumed_from,
        }


#: How a seed becomes a province, stored with a run: raised whenever the same arguments draw
#: another one, so that a run stored by an earlier release is not resumed with other doctors.
#: 2: the doctors numbered institution by institution (``province.doctor_commands``), the draws
#: taken from BLAKE2b blocks instead of splitmix64 (``dice.Dice``).
DRAWS = 2


def _config(doctors: int, seed: int, policy: Policy, profile: Profile) -> dict[str, Any]:
    return {
        "draws": DRAWS,
        "doctors": doctors,
        "seed": seed,
        "policy": f"{policy.id}@{policy.version}",
        "profile": hashlib.sha256(profile.text.encode()).hexdigest()[:16],
    }


def simulate(
    engine: Engine,
    doctors: int = 2000,
    seed: int = 7,
    policy: str | Path = "guangxi-2019-2020",
    profile: str | Path | None = None,
    *,
    resume: bool = False,
    batch: int = 2000,
    workers: int | None = None,
    progress: Progress | None = None,
    stop_after: str | None = None,
) -> Result:
    """Play a whole cycle for ``doctors`` synthetic doctors; the figures at the end.

    ``workers`` processes (default: one per core, up to 2, from 20,000 doctors, and one more from
    1,000,000; always 1 in memory)
    each drive a slice of the doctors through every phase, against the same
    database.  ``resume`` continues a run the store already holds (same
    arguments); ``stop_after`` ends after the named phase.
    """
    check_size(doctors, batch, workers)
    try:
        with runlock.hold(engine.storage.url), streaming_gc():
            return _simulate(engine, doctors, seed, policy, profile, resume, batch, workers, progress, stop_after)
    except runlock.Busy as exc:
        raise SimulationError(str(exc)) from None


def _simulate(
    engine: Engine,
    doctors: int,
    seed: int,
    policy: str | Path,
    profile: str | Path | None,
    resume: bool,
    batch: int,
    workers: int | None,
    progress: Progress | None,
    stop_after: str | None,
) -> Result:
    started = time.perf_counter()
    pol = load_policy(policy)
    prof = load_profile(profile)
    _check_months(pol, prof)
    config = _config(doctors, seed, pol, prof)
    stored = engine.storage.get_meta("simulation")
    resumed_from = None
    if stored is not None:
        if not resume:
            raise SimulationError(
                "this database already holds a simulation: use --resume to continue it, or another --db"
            )
        stored_config = json.loads(stored)
        if stored_config.get("draws", 1) != DRAWS:
            raise SimulationError(
                "this database holds a simulation made by an earlier release, which drew its cycle "
                "differently: it cannot be resumed; start it again (--replace) or use another --db"
            )
        if stored_config != config:
            raise SimulationError(f"--resume with other arguments than the stored run: {stored}")
        resumed_from = engine.storage.get_meta("simulation.next") or "setup"
    elif holds_a_cycle(engine):
        raise SimulationError("this database already holds a cycle that is not a simulation; choose another --db")
    else:
        engine.storage.set_meta("simulation", json.dumps(config))
    report = progress or (lambda *_: None)
    shared = _shareable(engine.storage.url)
    if workers is None:
        workers = default_workers(doctors, os.cpu_count() or 1)
    count = 1 if not shared else max(1, workers)
    count = min(count, doctors)
    job = _Job(engine.storage.url, doctors, seed, pol.text, prof.text, batch)

    if engine.world().policy is None:
        _build_world(engine, world_commands(doctors, seed, pol, prof))
        engine.load_policy(pol)
    # Every record of the cycle is one a pass accepted: counted as the workers commit them, not
    # afterwards from the store (a scan of the history index: 8–31 s at the nation's 46 million).
    accepted = engine.storage.count_history(engine.cycle) if resumed_from is not None else 0
    todo = ["setup", *(p.name for p in PHASES)]
    start = todo.index(resumed_from) if resumed_from in todo else len(todo) if resumed_from == "done" else 0
    refusals, samples = 0, []
    with _Pool(job, count, report, engine, prof) as pool:
        for names in passes(todo[start:], stop_after):
            # An interrupted pass is played again from its first phase: it leaves the doctors it
            # finished as they are (they stand past its phases, or where the same draws do
            # nothing again) and takes the others from where they stand.
            engine.storage.set_meta("simulation.next", names[0])
            for outcome in pool.run(names):
                accepted += outcome.accepted
                refusals += outcome.refusals
                samples += outcome.samples
            following = todo.index(names[-1]) + 1
            engine.storage.set_meta("simulation.next", todo[following] if following < len(todo) else "done")
    stats = compute(engine, by="city")
    return Result(
        doctors,
        accepted,
        time.perf_counter() - started,
        stats,
        refusals,
        samples[:20],
        resumed_from,
    )


def default_workers(doctors: int, cpus: int) -> int:
    """One per core up to 2 (SQLite writes one transaction at a time), one more from ``OVERLAP_FROM``
    doctors; one below ``PARALLEL_FROM``, where starting processes costs more than it saves."""
    if doctors < PARALLEL_FROM:
        return 1
    return min(2, cpus) + (1 if doctors >= OVERLAP_FROM else 0)


def holds_a_cycle(engine: Engine) -> bool:
    """Whether the store holds anything of a province's own: regions being set up count, not just a policy."""
    world = engine.world()
    return world.policy is not None or bool(world.regions) or bool(world.institutions) or bool(world.agencies)


def passes(todo: list[str], stop_after: str | None = None) -> list[tuple[str, ...]]:
    """The steps of ``todo`` up to ``stop_after``, in the passes that play them: one, each doctor
    taken through every phase while their page is in memory (none when nothing is left).

    Played phase by phase, a doctor was read and written again for each: 200,000 doctors took
    42.9 and 43.4 s with the first round and grading passes of their own, 35.9 and 37.3 s joined
    to registration's; and the phases after grading, a second pass, read their few doctors back
    from all over the file (at the nation's size, 56 s waiting on the disk).
    """
    names = todo[: todo.index(stop_after) + 1] if stop_after in todo else todo
    return [tuple(names)] if names else []


_PHASE = {p.name: p for p in PHASES}


def _build_world(engine: Engine, commands: list[dict[str, Any]]) -> None:
    """Apply the province's commands in order, each run of institutions as one batch (a nation has 80,000)."""
    run: list[Any] = []
    for cmd in [*commands, None]:
        if cmd is not None and cmd["op"] == "institution":
            run.append(parse_op(cmd))
            continue
        if run:
            engine.add_institutions(run)
            run = []
        if cmd is not None:
            engine.apply(cmd)


def _shareable(url: str) -> bool:
    """Whether other processes can open the same store (not an in-memory one)."""
    return url not in (":memory:", "memory:", "memory://") and not url.startswith("file::memory:")


@attrs.frozen
class _Job:
    """What a worker process needs to rebuild the run on its own connection."""

    url: str
    doctors: int
    seed: int
    policy_text: str
    profile_text: str
    batch: int


class _Pool:
    """Worker processes (or, for one worker or an in-memory store, this process) running a pass page by page.

    Each worker takes the next page of doctors not yet taken (a counter they share) until none is
    left, so they finish within a page of each other.  Fixed halves did not: on the shared machine
    one core runs slower than the other for a while, and at 200,000 doctors the faster worker
    finished 2.7–3.1 s before the other (5 % of the run) with one core idle meanwhile.
    """

    def __init__(self, job: _Job, count: int, report: Progress, engine: Engine, profile: Profile):
        self.job, self.count, self.report = job, count, report
        #: What this process's own pages run on: the caller's engine (an in-memory store has no other).
        self.local: dict[str, Any] = {"url": job.url, "engine": engine, "profile": profile}
        self.executor: ProcessPoolExecutor | None = None
        self.queue: Any = None
        #: Set on Ctrl-C: each worker stops after the page it is committing (see ``_work``).
        self.stop: Any = None
        #: The number of the next page a worker takes (see ``_claim``).
        self.next_page: Any = None

    def __enter__(self) -> _Pool:
        if self.count > 1:
            context = multiprocessing.get_context("fork")
            self.queue = context.Queue()
            self.stop = context.Event()
            self.next_page = context.Value("q", 0)
            self.executor = ProcessPoolExecutor(
                self.count,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.queue, self.stop, self.next_page, os.getpid(), self.job.url),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    def run(self, names: tuple[str, ...]) -> list[_Outcome]:
        if self.executor is None:
            return [_run_pages(self.job, names, itertools.count().__next__, self.report, self.local)]
        self.next_page.value = 0
        futures: list[Future[Any]] = []
        try:
            futures += [self.executor.submit(_work, self.job, names) for _ in range(self.count)]
            self._follow(futures)
            results = [f.result() for f in futures]
        except KeyboardInterrupt:
            # The workers ignore SIGINT (they would die mid-page, printing tracebacks): they
            # are told instead, finish the page they are committing and stop.  Waiting for
            # their whole shares of the doctors took 42 s at 300,000 doctors.
            self._stop_workers(futures)
            raise
        except BrokenProcessPool as exc:
            raise WorkerDied(
                f"a worker process died during {names[0]} (killed — by the out-of-memory killer?); "
                f"the pages it committed are kept in {self.job.url}: the same command with --resume continues the run"
            ) from exc
        if any(r is None for r in results):
            # A worker saw the stop event without this process having been interrupted (a
            # SIGINT sent to the workers alone, say): the run stops the same way.
            raise KeyboardInterrupt
        return [r for r in results if r is not None]

    def _follow(self, futures: list[Future[Any]]) -> None:
        """Pass the workers' progress on until every one has said it is done (or died)."""
        # Each worker's last message says it is done, so a pass ends when its slowest worker
        # does (waiting out a poll interval per phase cost 0.2 s × 13 phases).  A worker that
        # died sends nothing: its future, polled on a quiet queue, says so.
        running = len(futures)
        copy_back = time.monotonic() + COPY_BACK_EVERY
        while running:
            if time.monotonic() >= copy_back:
                copy_back = time.monotonic() + COPY_BACK_EVERY if self._copy_back() else math.inf
            try:
                item = self.queue.get(timeout=0.2)
            except queue.Empty:
                if all(f.done() for f in futures):
                    break
                continue
            if item == _DONE:
                running -= 1
            else:
                self.report(*item)

    def _copy_back(self) -> bool:
        """Copy the workers' log back into the database from this process, which only waits meanwhile.

        Copied inside a worker's commit, the log held that worker and the one queued behind it
        until the disk had it (at 200,000 doctors, fourteen commits of 250–380 ms, a third of them
        the processor's).  Copied from here, the commits found it done.  False when it failed: the
        workers' commits copy it back themselves, as in one process.
        """
        try:
            self.local["engine"].storage.checkpoint()
        except StorageError:
            return False
        return True

    def _stop_workers(self, futures: list[Future[Any]]) -> None:
        """Have the workers stop after their current page; a second Ctrl-C ends them at once."""
        assert self.executor is not None
        self.stop.set()
        try:
            # Keep reading the queue meanwhile: a worker's last messages must get out of it
            # before the worker can exit.
            while not all(f.done() for f in futures):
                with contextlib.suppress(queue.Empty):
                    self.queue.get(timeout=0.05)
        except KeyboardInterrupt:
            # Killed between two statements, a worker loses only its open transaction: pages
            # commit whole, so the store is as consistent as after a power cut.
            for process in list(getattr(self.executor, "_processes", {}).values()):
                process.kill()
            raise


_WORKER: dict[str, Any] = {}
#: A worker process's engine and profile, kept from one pass to the next.
_WORKER_CACHE: dict[str, Any] = {}


def _init_worker(progress_queue: Any, stop: Any, next_page: Any, parent: int, url: str) -> None:
    # Ctrl-C is the parent's to handle: it sets ``stop``, which each worker reads between
    # pages, and says how to resume.  Killed by the signal, a worker would die mid-page.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)
    _WORKER["queue"] = progress_queue
    _WORKER["stop"] = stop
    _WORKER["next_page"] = next_page
    _WORKER["parent"] = parent
    _WORKER["lock"] = runlock.share_in_worker(url)
    # What the parent built before the fork (the world, the modules) is never garbage:
    # frozen, the collector stops scanning it (and stops touching its shared pages).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


#: prctl(2): the signal a process gets when the thread that forked it ends.
PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Have this worker killed when its parent ends, however it ends (``kill -9`` included).

    Orphaned, the workers of a killed run went on writing their shares of the doctors,
    racing any ``--resume`` started meanwhile, then sat idle for ever.  On
    Linux the kernel sends SIGKILL the moment the parent is gone: a page being committed
    is lost whole, as in a power cut, and ``--resume`` plays it again.  Elsewhere
    ``_parent_alive`` is asked between pages.  The pool forks its workers from the
    thread that calls ``submit`` (``simulate``'s), which lives as long as the run.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before the line above: then nothing would ever be sent.
    _parent_alive(parent)


def _parent_alive(parent: int) -> None:
    """Exit at once, writing nothing more, if the parent is gone (the worker has been handed to another)."""
    if os.getppid() != parent:
        os._exit(1)


def _check_months(policy: Policy, profile: Profile) -> None:
    """Suspension lengths the profile draws must be ones the policy allows, or every one is refused."""
    s = policy.suspension
    outside = sorted(int(m) for m in profile.reexam.months if not s.min_months <= int(m) <= s.max_months)
    if outside:
        raise SimulationError(
            f"the profile's reexam.months {outside} fall outside the policy's suspension range"
            f" {s.min_months}–{s.max_months} months"
        )


#: A worker's last message of a phase (after its progress, on the same queue).
_DONE = ("done",)


class _Stopped(Exception):
    """Raised in a worker between two pages when the run is being stopped."""


def _claim(counter: Any) -> int:
    """The next page's number, taken from the counter the workers share: each page goes to one worker."""
    with counter.get_lock():
        page: int = counter.value
        counter.value = page + 1
    return page


def _work(job: _Job, names: tuple[str, ...]) -> _Outcome | None:
    """A worker's share of a pass; None when it stopped early because the parent asked it to."""
    send, stop, counter, parent = _WORKER["queue"].put, _WORKER["stop"], _WORKER["next_page"], _WORKER["parent"]

    def report(*item: Any) -> None:
        # Called after each page has committed (and after each setup chunk): the one place
        # a worker can stop without leaving a page half-done.
        _parent_alive(parent)
        send(item)
        if stop.is_set():
            raise _Stopped

    def claim() -> int:
        # Before a page is taken, and so before it is written: a parent gone means no more pages.
        _parent_alive(parent)
        return _claim(counter)

    try:
        if stop.is_set():
            return None
        return _run_pages(job, names, claim, report, _WORKER_CACHE)
    except _Stopped:
        return None
    finally:
        send(_DONE)


class _Outcome(NamedTuple):
    """What one worker's share of a pass did."""

    #: History records it committed.
    accepted: int
    #: Refusals the profile did not intend, and a sample of them.
    refusals: int
    samples: list[str]


def _run_pages(
    job: _Job, names: tuple[str, ...], claim: Callable[[], int], report: Progress, cache: dict[str, Any]
) -> _Outcome:
    """One worker's share of one pass (``names``, its phases): the pages ``claim`` hands it, until none is left."""
    import renew_fsm

    if cache.get("url") != job.url:
        cache.clear()
        cache.update(url=job.url, engine=renew_fsm.open(job.url), profile=parse_profile(job.profile_text))
    engine: Engine = cache["engine"]
    profile: Profile = cache["profile"]
    policy = parse_policy(job.policy_text)

    def stored(n: int) -> bool:
        """Whether doctor ``n`` is in the store already: an interrupted run stored their page."""
        return engine.storage.get_doctor(doctor_id(n)) is not None

    setup = names[0] == "setup"
    if setup:
        names = names[1:]
    if not names:
        for first, last in _pages(claim, SETUP_CHUNK, job.doctors):
            if not stored(last - 1):
                engine.add_doctors(list(doctor_commands(job.doctors, job.seed, policy, profile, first, last)))
            report("setup", last - first, 0)
        return _Outcome(0, 0, [])
    world = engine.world()
    agency_of = {i: a.id for a in sorted(world.agencies.values(), key=lambda a: a.id) for i in a.institutions}
    ctx = b.Context(job.seed, engine.policy, profile, world, agency_of, Actor("admin", "P"))
    stages = [_stage(engine, _PHASE[name]) for name in names]
    states = list(dict.fromkeys(s for _, phase_states, _ in stages for s in phase_states))
    # Doctors and accepted events of each phase since the last page was reported: every phase of
    # the pass reports each page, so each one's progress bar moves as the doctors go through it.
    tally = {name: [0, 0] for name in names}

    def page_done(_doctors: int, _accepted: int) -> None:
        for name, counts in tally.items():
            report(name, counts[0], counts[1])
            counts[:] = [0, 0]

    def plan(inst: Instance, doc: Doctor) -> b.Plan:
        return _through(ctx, stages, tally, inst, doc)

    def drive(first: int, last: int) -> int:
        """The pass over doctors ``first`` … ``last - 1`` as they stand in the store; events accepted."""
        return engine.drive_states(
            states,
            plan,
            batch=job.batch,
            progress=page_done,
            after=doctor_id(first - 1) if first > 0 else None,
            until=doctor_id(last - 1) if last < job.doctors else None,
        )

    # The doctors are driven as they are added (``Engine.drive_new``), a page at a time; a page an
    # interrupted run stored is driven from where its doctors stand, like any pass played again.
    accepted = 0
    for first, last in _pages(claim, job.batch, job.doctors):
        if not setup:
            accepted += drive(first, last)
            continue
        commands = doctor_commands(job.doctors, job.seed, policy, profile, first, last)
        first_stored, last_stored = stored(first), stored(last - 1)
        if not first_stored and not last_stored:
            accepted += engine.drive_new(list(commands), plan)
            report("setup", last - first, 0)
            page_done(last - first, 0)
            continue
        if not last_stored:
            engine.add_doctors(list(commands))
        report("setup", last - first, 0)
        accepted += drive(first, last)
    return _Outcome(accepted, ctx.refusals, ctx.samples)


def _pages(claim: Callable[[], int], size: int, doctors: int) -> Iterator[tuple[int, int]]:
    """The doctor-number ranges ``first`` … ``last - 1`` of the pages ``claim`` numbers, until past the last doctor."""
    while (first := claim() * size) < doctors:
        yield first, min(first + size, doctors)


#: A phase in a pass: its name, the states it takes a doctor in, and what it does with one there.
_Stage = tuple[str, frozenset[str], Callable[[b.Context, Instance, Doctor], b.Plan]]
_SYSTEM = Actor("system")


def _stage(engine: Engine, phase: Phase) -> _Stage:
    if phase.plan is not None:
        return phase.name, frozenset(phase.states), phase.plan
    assert phase.sweep is not None and phase.window is not None
    event, policy = phase.sweep, engine.policy
    day = getattr(policy.windows, phase.window).end + dt.timedelta(days=1)
    at = dt.datetime.combine(day, dt.time(0, 30), policy.tz)

    def sweep(ctx: b.Context, inst: Instance, doctor: Doctor) -> b.Plan:
        """The system's event, as ``Engine.sweep`` fires it: a guard turning a doctor away leaves them be."""
        cmd = Fire(doctor.id, event, _SYSTEM, {}, at)
        result = yield cmd
        if isinstance(result, Refused) and result.rule == "window_still_open":
            ctx.surprise(doctor, cmd, result)

    return phase.name, frozenset(engine.sweep_states(event)), sweep


def _through(
    ctx: b.Context, stages: list[_Stage], tally: dict[str, list[int]], inst: Instance, doctor: Doctor
) -> b.Plan:
    """One doctor through a pass's phases in calendar order, each from where the one before left them."""
    for name, states, make_plan in stages:
        if inst.state not in states:
            continue
        counts = tally[name]
        counts[0] += 1
        plan = make_plan(ctx, inst, doctor)
        result: View | Refused | None = None
        while True:
            try:
                cmd = plan.send(result)  # type: ignore[arg-type]
            except StopIteration:
                break
            result = yield cmd
            if isinstance(result, View):
                inst = result.instance
                counts[1] += 1


__all__ = ["END_STATES", "PHASES", "Result", "SimulationError", "passes", "simulate"]
