"""The pool of worker processes that evaluate user policies, seen from the server's process.

Each job gets a deadline: a worker that does not answer in time is killed and replaced, and so
is one that dies (SIGSEGV, SIGABRT) or runs out of memory; the job's policy gets a
`WorkerFailure`. A worker is also replaced after `recycle_after` jobs or when its resident
memory passes `recycle_rss`, which bounds what cel-expr-python's callback bridge leaks
(~1 KB per call of a Python-implemented function). Each worker is a fresh interpreter
(`python -m webhook.vap.worker`), never a fork of the server's threaded event loop, and
imports nothing of its caller (multiprocessing's spawn and forkserver would re-run the
caller's main module in every worker). Blocking waits happen in the pool's own threads, so
the event loop only awaits.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from webhook.core.json import loads
from webhook.core.policy import Policy
from webhook.vap import worker
from webhook.vap.bound import WorkerFailure

log = logging.getLogger("edgeguard.cel")
MIB = 1024 * 1024


class WorkerSettingsError(ValueError):
    """A --cel-* flag out of range; the message names it."""


class WorkerStartError(Exception):
    """A worker process did not start (`serve` and `review` stop with exit 2)."""


START_SECONDS = 30.0


@dataclass(frozen=True)
class WorkerSettings:
    """`--cel-workers`, `--cel-timeout`, `--cel-memory`, `--cel-recycle` (README, serve)."""

    workers: int = 2
    # Well under the webhook's timeoutSeconds (5 s in manifests/base), and about what the API
    # server's per-request cost budget (10,000,000 units) buys in Go.
    timeout: float = 1.0
    memory_mib: int = 512  # address space (RLIMIT_AS) of each worker
    recycle_after: int = 10_000  # jobs
    recycle_rss_mib: int = 256  # resident memory after a job

    def check(self) -> None:
        """Raises WorkerSettingsError naming the flag that is out of range."""
        if self.workers < 1:
            raise WorkerSettingsError(f"--cel-workers must be at least 1, got {self.workers}")
        if not 0 < self.timeout <= 30:
            raise WorkerSettingsError(
                f"--cel-timeout must be above 0 and at most 30 s, got {self.timeout:g}"
            )
        if self.memory_mib and self.memory_mib < 128:
            raise WorkerSettingsError(
                f"--cel-memory must be at least 128 MiB (or 0: no limit), got {self.memory_mib}"
            )
        if self.recycle_after < 1:
            raise WorkerSettingsError(f"--cel-recycle must be at least 1, got {self.recycle_after}")


class _Worker:
    def __init__(self, memory: int) -> None:
        mine, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webhook.vap.worker", str(theirs.fileno()), str(memory)],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self.conn = Connection(mine.detach())
        self.jobs = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def started(self, timeout: float = START_SECONDS) -> str | None:
        """None once the worker said it is ready; else why it did not."""
        try:
            if self.conn.poll(timeout) and self.conn.recv_bytes() == worker.READY:
                return None
        except (EOFError, OSError):
            pass
        return self.death()

    def call(self, job: bytes, timeout: float) -> bytes | None:
        """The answer; None when there is none within `timeout` seconds. EOFError or OSError
        when the worker died."""
        self.conn.send_bytes(job)
        if not self.conn.poll(max(timeout, 0)):
            return None
        return self.conn.recv_bytes()

    def death(self) -> str:
        try:
            code = self.process.wait(1.0)
        except subprocess.TimeoutExpired:
            return "the worker stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the worker was killed by {name}"
        return f"the worker exited with status {code}"

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            log.error("CEL worker %d did not exit after SIGKILL", self.process.pid)
        self.conn.close()


class Pool:
    """Workers evaluating jobs with a deadline. Thread-safe; `run` blocks, `run_async` awaits."""

    def __init__(self, settings: WorkerSettings | None = None) -> None:
        self.settings = settings or WorkerSettings()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._threads = ThreadPoolExecutor(self.settings.workers, "edgeguard-cel")
        # Called with (policy, kind) for each failed evaluation, and (cause) for each worker
        # replaced: the server counts them (webhook.server.metrics).
        self.on_failure: Callable[[str, str], None] | None = None
        self.on_restart: Callable[[str], None] | None = None

    def start_for(self, policies: Iterable[Policy]) -> None:
        """`start`, when some of the policies run in the workers (user policies, deferred)."""
        if any(p.deferred is not None for p in policies):
            self.start()

    def start(self) -> None:
        """Starts the workers and waits until they can take jobs; WorkerStartError if not."""
        with self._lock:
            if self._started:
                return
            self._started = True
        atexit.register(self.close)
        workers = [self._spawn() for _ in range(self.settings.workers)]
        for started in workers:
            problem = started.started()
            if problem is not None:
                for each in workers:
                    each.stop()
                self._closed = True
                raise WorkerStartError(f"a CEL worker did not start: {problem}")
        for started in workers:
            self._idle.put(started)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._threads.shutdown(wait=False, cancel_futures=True)
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return

    def pids(self) -> list[int]:
        """The process ids of the idle workers (for monitoring and tests)."""
        return [w.process.pid for w in list(self._idle.queue)]

    def run(self, job: bytes) -> Mapping[str, Any]:
        return self._run(job, time.monotonic() + self.settings.timeout)

    async def run_async(self, job: bytes) -> Mapping[str, Any]:
        deadline = time.monotonic() + self.settings.timeout
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._run, job, deadline)

    def failed(self, policy: str, failure: WorkerFailure) -> None:
        log.warning("user policy %s: evaluation failed (%s): %s", policy, failure.kind, failure)
        if self.on_failure is not None:
            self.on_failure(policy, failure.kind)

    def _run(self, job: bytes, deadline: float) -> Mapping[str, Any]:
        try:
            self.start()
        except WorkerStartError as exc:
            raise WorkerFailure("crash", str(exc)) from exc
        seconds = f"{self.settings.timeout:g} s"
        current = self._take(deadline, seconds)
        try:
            raw = current.call(job, deadline - time.monotonic())
        except (EOFError, OSError):
            self._replace(current, "crash")
            raise WorkerFailure("crash", current.death()) from None
        if raw is None:
            self._replace(current, "timeout")
            raise WorkerFailure(
                "timeout", f"did not finish within {seconds}; its worker was stopped"
            )
        answer: dict[str, Any] = loads(raw)
        current.jobs += 1
        self._release(current, answer)
        if answer.get("error") == "memory":
            limit = f"{self.settings.memory_mib} MiB, --cel-memory"
            raise WorkerFailure("memory", f"the worker ran out of memory (its limit: {limit})")
        if "error" in answer:
            raise WorkerFailure(str(answer["error"]), str(answer["message"]))
        return answer

    def _take(self, deadline: float, seconds: str) -> _Worker:
        while True:
            try:
                found = self._idle.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise WorkerFailure(
                    "timeout", f"no CEL worker became free within {seconds}"
                ) from None
            if found.alive():
                return found
            self._replace(found, "died idle")  # not this job's fault: take another

    def _release(self, current: _Worker, answer: Mapping[str, Any]) -> None:
        settings = self.settings
        if answer.get("exit") or answer.get("error") == "memory":
            self._replace(current, "stopped itself")
        elif current.jobs >= settings.recycle_after:
            self._replace(current, "recycled after jobs")
        elif int(answer.get("rss", 0)) > settings.recycle_rss_mib * MIB:
            self._replace(current, "recycled for memory")
        else:
            self._idle.put(current)

    def _replace(self, old: _Worker, cause: str) -> None:
        """Stops `old` and puts a new worker in its place, off the caller's path."""
        if self.on_restart is not None:
            self.on_restart(cause)

        def replace() -> None:
            old.stop()
            while not self._closed:
                new = self._spawn()
                problem = new.started()
                if problem is None:
                    self._idle.put(new)
                    return
                new.stop()
                log.error("a CEL worker did not start (%s); trying again in 1 s", problem)
                time.sleep(1.0)

        threading.Thread(target=replace, name="edgeguard-cel-replace", daemon=True).start()

    def _spawn(self) -> _Worker:
        return _Worker(self.settings.memory_mib * MIB)


_SHARED: Pool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool() -> Pool:
    """The process's default pool (default settings), started on first use."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Pool()
        return _SHARED
