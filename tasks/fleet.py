"""Hosts side by side: one connection each, a bounded pool of threads, one outcome each.

A `Fleet` connects to the selected hosts and runs a function on each of them
(``each``), at most ``parallel`` at a time. A host that fails keeps its error
and exit code and is left out of later phases. Ctrl-C or SIGTERM (seen only by
the main thread) interrupts the command running on every host, lets each host
clean up, then goes on as an interrupt.
"""
from __future__ import annotations

import itertools
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .errors import ExitCode, HostResult, StepFailed
from .inventory import Host, Stage
from .output import Reporter
from .steps import HostRun
from .transport import ConnectError, HostConnection

_failure_clock = itertools.count()


@dataclass
class Slot:
    """One host in this run: how to reach it, and how it went."""

    stage: Stage
    host: Host
    run: HostRun | None = None
    result: HostResult = HostResult.PENDING
    code: ExitCode = ExitCode.OK
    message: str = ""
    value: object = None      # what the last action returned
    failed_at: int = -1       # order of failures across the run

    @property
    def alias(self) -> str:
        return self.host.alias

    @property
    def failed(self) -> bool:
        return self.code != ExitCode.OK

    def fail(self, code: ExitCode, message: str, result: HostResult = HostResult.FAILED) -> None:
        self.code, self.message, self.result = code, message, result
        self.failed_at = next(_failure_clock)


@dataclass
class Fleet:
    """The selected hosts of one run, driven ``parallel`` at a time."""

    targets: list[tuple[Stage, Host]]
    out: Reporter
    parallel: int = 1
    trust_new_host_key: bool = False
    slots: list[Slot] = field(init=False)

    def __post_init__(self) -> None:
        self.slots = [Slot(stage, host) for stage, host in self.targets]
        self.parallel = max(1, min(self.parallel, len(self.slots) or 1))

    # --- the hosts -------------------------------------------------------------

    def live(self) -> list[Slot]:
        """The connected hosts that have not failed."""
        return [s for s in self.slots if s.run is not None and not s.failed]

    def failures(self) -> list[Slot]:
        return [s for s in self.slots if s.failed]

    def first_failure_code(self) -> ExitCode:
        """The exit code of the run: that of the host whose failure came first."""
        failed = sorted(self.failures(), key=lambda s: s.failed_at)
        return failed[0].code if failed else ExitCode.OK

    # --- connecting ------------------------------------------------------------

    def connect(self) -> None:
        """Open one connection per host, side by side; an unreachable host fails with exit 4."""
        def open_one(slot: Slot) -> None:
            conn = HostConnection(slot.host, slot.stage.ssh, trust_new_host_key=self.trust_new_host_key)
            try:
                with self.out.step(slot.alias, "connect") as record:
                    conn.open()
                    host = slot.host
                    record.detail = f"{host.user + '@' if host.user else ''}{host.hostname}:{host.port}"
            except ConnectError as exc:
                self.out.error(slot.alias, str(exc))
                slot.fail(ExitCode.CONNECT, str(exc), HostResult.UNREACHABLE)
                return
            slot.run = HostRun(stage=slot.stage, host=slot.host, conn=conn, out=self.out,
                               peers=tuple(h for _, h in self.targets))
        self._map(open_one, self.slots)

    def close(self) -> None:
        for slot in self.slots:
            if slot.run is not None:
                slot.run.conn.close()

    # --- running ---------------------------------------------------------------

    def each(self, action: Callable[[Slot], object], slots: Iterable[Slot] | None = None,
             stop_on_failure: bool = False) -> list[Slot]:
        """Run ``action`` on each of ``slots`` (default: every live host); return the ones that failed now.

        A `StepFailed` or dropped connection fails that host only. With
        ``stop_on_failure`` hosts not yet started when one fails are not started.
        """
        chosen = list(self.live() if slots is None else slots)
        stop = threading.Event()
        failed_now: list[Slot] = []
        lock = threading.Lock()

        def one(slot: Slot) -> None:
            if stop_on_failure and stop.is_set():
                slot.result = HostResult.NOT_ATTEMPTED
                return
            try:
                slot.value = action(slot)
            except StepFailed as exc:
                self.out.error(slot.alias, exc.message)
                slot.fail(exc.code, exc.message,
                          HostResult.ROLLED_BACK if exc.code == ExitCode.ROLLED_BACK else HostResult.FAILED)
            except ConnectError as exc:  # the connection dropped outside a step
                self.out.error(slot.alias, str(exc))
                slot.fail(ExitCode.CONNECT, str(exc), HostResult.UNREACHABLE)
            else:
                return
            with lock:
                failed_now.append(slot)
            stop.set()
        self._map(one, chosen)
        skipped = [s.alias for s in chosen if s.result == HostResult.NOT_ATTEMPTED]
        if skipped:
            self.out.line("", f"not attempted after the failure: {', '.join(skipped)}")
        return failed_now

    def _map(self, fn: Callable[[Slot], None], slots: list[Slot]) -> None:
        """Run ``fn`` over ``slots`` in the pool. On Ctrl-C, interrupt every host, wait for
        them to clean up, then re-raise."""
        if not slots:
            return
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(slots)),
                                thread_name_prefix="wsgideploy-host") as pool:
            futures = [pool.submit(fn, slot) for slot in slots]
            try:
                _wait_all(futures)
            except KeyboardInterrupt:
                for slot in slots:
                    if slot.run is not None:
                        slot.run.conn.interrupt()
                for future in futures:
                    future.cancel()
                _wait_quietly(futures)
                raise
        for future in futures:  # a bug in ``fn`` must not pass silently
            if not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]


def _wait_all(futures: list[Future[None]]) -> None:
    """Wait for every future, waking often so Ctrl-C reaches the main thread."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
        if any(not f.cancelled() and f.exception() is not None for f in done):
            wait(pending)
            return


def _wait_quietly(futures: list[Future[None]]) -> None:
    """Wait for the hosts to finish their cleanup; a second Ctrl-C interrupts them again."""
    while True:
        try:
            wait(futures)
            return
        except KeyboardInterrupt:
            continue
