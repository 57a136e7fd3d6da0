"""A health check ends its wait on an answer that cannot become healthy, and says what it got.

The same status other than the expected one, three times in a row once the app answers, ends the wait at
once (Django's 400 for a Host that ALLOWED_HOSTS refuses used to wait out the whole 30 s timeout). 502, 503
and 504 are what a front server answers while the app starts: they never end it. Each case is a sequence of
statuses that a local server answers in turn (the last one from then on), asked by the real probe.
"""
from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from wsgideploy.commands.health import http_check

TIMEOUT = 20.0


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A server answering ``/<case>/<s1>,<s2>,...`` with s1, then s2, ..., then the last one again."""
    asked: dict[str, int] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            statuses = [int(s) for s in self.path.rsplit("/", 1)[1].split(",")]
            index = asked.get(self.path, 0)
            asked[self.path] = index + 1
            status = statuses[min(index, len(statuses) - 1)]
            body = f"answer {status}".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def check(port: int, path: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", http_check(port, path, "shop.example.com", 200, TIMEOUT)],
                          capture_output=True, text=True, timeout=60)
    return done, time.monotonic() - started


def test_a_400_three_times_ends_the_wait_with_the_answer_and_the_host_it_sent(port: int) -> None:
    done, took = check(port, "/django/400")
    assert done.returncode == 1
    assert took < 5, "it did not wait out its timeout"
    first = done.stderr.splitlines()[0]
    assert first.startswith("HTTP 400 (expected 200) 3 times in a row: answer 400"), first
    assert "Host: shop.example.com" in first and "ALLOWED_HOSTS" in first


@pytest.mark.parametrize("statuses", ["500,500,200", "404,500,404,200", "503,503,503,503,503,200", "502,502,502,502,200"])
def test_answers_that_change_or_come_from_a_starting_app_keep_the_wait(port: int, statuses: str) -> None:
    done, _ = check(port, f"/changes/{statuses}")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("status", [404, 500])
def test_any_other_repeated_status_ends_the_wait_without_the_host_hint(port: int, status: int) -> None:
    done, took = check(port, f"/broken/{status}")
    assert done.returncode == 1 and took < 5
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"HTTP {status} (expected 200) 3 times in a row: answer {status}") and "ALLOWED" not in first
