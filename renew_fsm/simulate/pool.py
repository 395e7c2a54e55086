"""The worker pool: processes forked from the run, each taking the next page of doctors until none is left.

The workers share a page counter (``claim``), report their progress on a queue
the parent reads, ignore Ctrl-C (the parent tells them to stop between pages
instead) and die with their parent however it ends.  What a worker does with a
page is not this module's business: the pool is handed a ``Run`` (the phases'
``run_pages``) and runs it in each worker, or in this process for one worker
or an in-memory store.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import itertools
import math
import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs

from ..storage import StorageError
from ..tuning import GC_THRESHOLDS
from . import runlock
from .errors import SimulationError

if TYPE_CHECKING:
    from ..engine import Engine
    from .profile import Profile

#: progress(phase, doctors seen in the last page, events accepted in it)
Progress = Callable[[str, int, int], None]
#: Seconds between the parent's copies of the log back into the database while workers write
#: (``Pool._copy_back``): often enough that the commits' own copy (``CHECKPOINT_PAGES``)
#: rarely comes due, even at the machine's fastest.
COPY_BACK_EVERY = 0.25


class WorkerDied(SimulationError, BrokenProcessPool):
    """A worker process was killed (the out-of-memory killer, ``kill -9``); the pages it committed are kept.

    Also a ``BrokenProcessPool``, which is what a caller of the pool would catch.
    """


@attrs.frozen
class Job:
    """What a worker process needs to rebuild the run on its own connection."""

    url: str
    doctors: int
    seed: int
    policy_text: str
    profile_text: str
    batch: int


class Outcome(NamedTuple):
    """What one worker's share of a pass did."""

    #: History records it committed.
    accepted: int
    #: Refusals the profile did not intend, and a sample of them.
    refusals: int
    samples: list[str]


#: run(job, the pass's phase names, claim the next page's number, report progress, the process's cache):
#: one worker's share of one pass (``phases.run_pages``).
Run = Callable[[Job, tuple[str, ...], Callable[[], int], Progress, dict[str, Any]], Outcome]


def claim(counter: Any) -> int:
    """The next page's number, taken from the counter the workers share: each page goes to one worker."""
    with counter.get_lock():
        page: int = counter.value
        counter.value = page + 1
    return page


def pages(claim: Callable[[], int], size: int, doctors: int) -> Iterator[tuple[int, int]]:
    """The doctor-number ranges ``first`` … ``last - 1`` of the pages ``claim`` numbers, until past the last doctor."""
    while (first := claim() * size) < doctors:
        yield first, min(first + size, doctors)


class Pool:
    """Worker processes (or, for one worker or an in-memory store, this process) running a pass page by page.

    Each worker takes the next page of doctors not yet taken (a counter they share) until none is
    left, so they finish within a page of each other.  Fixed halves did not: on a shared machine
    one core runs slower than the other for a while, and the faster worker finished well before
    the other with one core idle meanwhile.
    """

    def __init__(self, job: Job, count: int, report: Progress, engine: Engine, profile: Profile, run: Run):
        self.job, self.count, self.report, self.run_pages = job, count, report, run
        #: What this process's own pages run on: the caller's engine (an in-memory store has no other).
        self.local: dict[str, Any] = {"url": job.url, "engine": engine, "profile": profile}
        self.executor: ProcessPoolExecutor | None = None
        self.queue: Any = None
        #: Set on Ctrl-C: each worker stops after the page it is committing (see ``_work``).
        self.stop: Any = None
        #: The number of the next page a worker takes (see ``claim``).
        self.next_page: Any = None

    def __enter__(self) -> Pool:
        if self.count > 1:
            context = multiprocessing.get_context("fork")
            self.queue = context.Queue()
            self.stop = context.Event()
            self.next_page = context.Value("q", 0)
            self.executor = ProcessPoolExecutor(
                self.count,
                mp_context=context,
                initializer=_init_worker,
                # Forked, not pickled: the workers get the very function (a test's stand-in too).
                initargs=(self.queue, self.stop, self.next_page, os.getpid(), self.job.url, self.run_pages),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    def run(self, names: tuple[str, ...]) -> list[Outcome]:
        if self.executor is None:
            return [self.run_pages(self.job, names, itertools.count().__next__, self.report, self.local)]
        self.next_page.value = 0
        futures: list[Future[Any]] = []
        try:
            futures += [self.executor.submit(_work, self.job, names) for _ in range(self.count)]
            self._follow(futures)
            results = [f.result() for f in futures]
        except KeyboardInterrupt:
            # The workers ignore SIGINT (they would die mid-page, printing tracebacks): they
            # are told instead, finish the page they are committing and stop, rather than
            # the whole of their shares of the doctors.
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
        # does, not a poll interval per phase later.  A worker that died sends nothing: its
        # future, polled on a quiet queue, says so.
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
        until the disk had it, a good part of it on the processor.  Copied from here, the commits
        found it done.  False when it failed: the workers' commits copy it back themselves, as in
        one process.
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


def _init_worker(progress_queue: Any, stop: Any, next_page: Any, parent: int, url: str, run: Run) -> None:
    # Ctrl-C is the parent's to handle: it sets ``stop``, which each worker reads between
    # pages, and says how to resume.  Killed by the signal, a worker would die mid-page.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)
    _WORKER["queue"] = progress_queue
    _WORKER["stop"] = stop
    _WORKER["next_page"] = next_page
    _WORKER["parent"] = parent
    _WORKER["run"] = run
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


#: A worker's last message of a phase (after its progress, on the same queue).
_DONE = ("done",)


class _Stopped(Exception):
    """Raised in a worker between two pages when the run is being stopped."""


def _work(job: Job, names: tuple[str, ...]) -> Outcome | None:
    """A worker's share of a pass; None when it stopped early because the parent asked it to."""
    send, stop, counter, parent = _WORKER["queue"].put, _WORKER["stop"], _WORKER["next_page"], _WORKER["parent"]

    def report(*item: Any) -> None:
        # Called after each page has committed (and after each setup chunk): the one place
        # a worker can stop without leaving a page half-done.
        _parent_alive(parent)
        send(item)
        if stop.is_set():
            raise _Stopped

    def claim_next() -> int:
        # Before a page is taken, and so before it is written: a parent gone means no more pages.
        _parent_alive(parent)
        return claim(counter)

    try:
        if stop.is_set():
            return None
        return _WORKER["run"](job, names, claim_next, report, _WORKER_CACHE)
    except _Stopped:
        return None
    finally:
        send(_DONE)
