"""A small, bounded load generator for the zero-downtime tests.

``RequestStream(port)`` keeps sending ``GET`` requests to ``http://127.0.0.1:<port><path>`` from a
few threads, each request on a NEW TCP connection (``http.client``, its own timeout), and records
every result as a `Result`. It always stops by itself, at ``max_requests`` requests or after
``max_seconds``, whichever comes first; `RequestStream.stop` ends it earlier and joins the threads.
``rate`` (requests per second, optional) paces it.

    with RequestStream(host.http_port, "/info") as stream:
        t0 = time.monotonic(); run_the_deploy(); t1 = time.monotonic()
        time.sleep(1.5)
    assert not stream.failures
    after = stream.started_after(t1)

The address is ``127.0.0.1`` unless ``address`` names another (a booted test server's, tests/servers);
``host`` is just the ``Host`` header.
"""
from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from typing import Iterable

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Result:
    """One request: when it started and finished (``time.monotonic()``), and how it ended.

    ``status`` is the HTTP status, or None when no response came back (connection refused or
    reset, timeout...); ``detail`` is then the error (``"ConnectionRefusedError: ..."``),
    otherwise the start of the response body.
    """

    started: float
    finished: float
    status: int | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self, origin: float = 0.0) -> str:
        """``+1.234s..+1.240s  502  <detail>``, times relative to ``origin``."""
        status = "ERR" if self.status is None else str(self.status)
        detail = " ".join(self.detail.split())[:160]
        return f"+{self.started - origin:.3f}s..+{self.finished - origin:.3f}s  {status}  {detail}"


class RequestStream:
    """Bounded concurrent GETs through nginx on ``127.0.0.1:<port>``; a context manager.

    ``threads`` workers each loop: take a request slot (at most ``max_requests`` in total), open a
    connection, ``GET path`` with ``Host: <host>`` and ``Connection: close``, read the response,
    close, record. Without ``rate`` there is no pause between requests; with it, request ``n``
    starts no earlier than ``n / rate`` seconds after `start` (a steady load that leaves some CPU
    to the rest of a parallel test run; a slow server just gets fewer). The stream ends by itself once ``max_requests``
    were sent or ``max_seconds`` have passed since `start` (a request in flight may finish up to
    ``timeout`` seconds later), or on `stop`.
    """

    def __init__(self, port: int, path: str = "/", host: str = "localhost", threads: int = 8,
                 max_requests: int = 5000, max_seconds: float = 60.0, timeout: float = 10.0,
                 rate: float | None = None, snippet_chars: int = 512, address: str = LOOPBACK) -> None:
        if threads < 1 or max_requests < 1 or max_seconds <= 0 or timeout <= 0 or (
                rate is not None and rate <= 0):
            raise ValueError("threads, max_requests, max_seconds, timeout and rate must be positive")
        self.port = port
        self.address = address
        self.path = path
        self.host = host
        self.threads = threads
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.rate = rate
        self.snippet_chars = snippet_chars
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._results: list[Result] = []
        self._issued = 0
        self._workers: list[threading.Thread] = []
        self.started_at: float | None = None
        #: Why the stream ended: "stopped", "max_requests" or "max_seconds" (None while running).
        self.ended_by: str | None = None
        self.ended_at: float | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "RequestStream":
        if self.started_at is not None:
            raise RuntimeError("a RequestStream runs once")
        self.started_at = time.monotonic()
        self._deadline = self.started_at + self.max_seconds
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, name=f"request-stream-{self.port}-{n}",
                                      daemon=True)
            self._workers.append(worker)
            worker.start()
        return self

    def stop(self) -> "RequestStream":
        """Stop sending, wait for the requests in flight (each bounded by ``timeout``), join."""
        self._end("stopped")
        for worker in self._workers:
            worker.join(self.timeout + 5)
        alive = [w.name for w in self._workers if w.is_alive()]
        if alive:
            raise RuntimeError(f"request threads did not finish: {alive}")
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stream ended by itself (or was stopped); True if it has."""
        limit = self.max_seconds + self.timeout + 5 if timeout is None else timeout
        end = time.monotonic() + limit
        for worker in self._workers:
            worker.join(max(0.0, end - time.monotonic()))
        return not any(w.is_alive() for w in self._workers)

    @property
    def running(self) -> bool:
        return any(w.is_alive() for w in self._workers)

    def __enter__(self) -> "RequestStream":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _end(self, reason: str) -> None:
        with self._lock:
            if self.ended_by is None:
                self.ended_by = reason
                self.ended_at = time.monotonic()
        self._stop.set()

    # --- the workers -----------------------------------------------------------------------

    def _take_slot(self) -> bool:
        """Claim the next request (waiting for its turn under ``rate``); False: the stream is over."""
        if self._stop.is_set():
            return False
        if time.monotonic() >= self._deadline:
            self._end("max_seconds")
            return False
        with self._lock:
            index = self._issued
            if index < self.max_requests:
                self._issued += 1
        if index >= self.max_requests:
            self._end("max_requests")
            return False
        if self.rate is not None:
            assert self.started_at is not None
            due = self.started_at + index / self.rate
            pause = min(due, self._deadline) - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                return False
            if time.monotonic() >= self._deadline:
                self._end("max_seconds")
                return False
        return True

    def _run(self) -> None:
        while self._take_slot():
            # The deadline is checked again with the very reading the request records as its start: a
            # thread held up between the slot and the send must not start a request past max_seconds.
            started = time.monotonic()
            if started >= self._deadline:
                self._end("max_seconds")
                return
            self._record(self._one(started))

    def _one(self, started: float) -> Result:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers={"Host": self.host, "Connection": "close"})
            response = conn.getresponse()
            body = response.read()
            status = response.status
            detail = body[: self.snippet_chars].decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - every error is a recorded failure
            status, detail = None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        return Result(started, time.monotonic(), status, detail)

    def _record(self, result: Result) -> None:
        with self._lock:
            self._results.append(result)

    # --- what happened ---------------------------------------------------------------------

    @property
    def results(self) -> list[Result]:
        """Every finished request, in order of completion (a copy)."""
        with self._lock:
            return list(self._results)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._results)

    @property
    def failures(self) -> list[Result]:
        """Requests that raised (no response) or answered with a non-2xx status, by start time."""
        return sorted((r for r in self.results if not r.ok), key=lambda r: r.started)

    def started_after(self, moment: float) -> list[Result]:
        """Requests started at or after ``moment`` (a ``time.monotonic()`` value), by start time."""
        return sorted((r for r in self.results if r.started >= moment), key=lambda r: r.started)

    def started_between(self, begin: float, end: float) -> list[Result]:
        """Requests started in ``[begin, end)``, by start time."""
        return sorted((r for r in self.results if begin <= r.started < end), key=lambda r: r.started)

    def report(self, results: Iterable[Result] | None = None, limit: int = 10) -> str:
        """The first ``limit`` of ``results`` (default: the failures), one line each, times
        relative to the stream's start."""
        chosen = list(self.failures if results is None else results)
        origin = self.started_at or 0.0
        lines = [r.describe(origin) for r in chosen[:limit]]
        if len(chosen) > limit:
            lines.append(f"... and {len(chosen) - limit} more")
        return "\n".join(lines)
