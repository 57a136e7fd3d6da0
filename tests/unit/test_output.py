"""``output.Reporter``: one whole line per step, with the host, the outcome and a duration."""
from __future__ import annotations

import io
import re
import threading
import time

import pytest

from wsgideploy.output import Reporter

STEP_LINE = re.compile(r"^\[(?P<host>[^\]]+)\] (?P<name>\S+) +(?P<status>ok|FAILED) +(?P<seconds>\d+\.\d\d)s"
                       r"(?:  (?P<detail>.+))?$")


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_step_prints_host_name_ok_and_duration() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)
    with reporter.step("web1", "upload"):
        time.sleep(0.02)
    [line] = lines(out)
    match = STEP_LINE.match(line)
    assert match, line
    assert (match["host"], match["name"], match["status"], match["detail"]) == ("web1", "upload", "ok", None)
    assert 0.02 <= float(match["seconds"]) < 5


def test_step_line_has_fixed_columns_and_the_detail() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)
    with reporter.step("web1", "venv") as record:
        record.detail = "built py3.11.7-abc"
    [line] = lines(out)
    assert re.fullmatch(r"\[web1\] venv         ok       \d\.\d\ds  built py3\.11\.7-abc", line), line


def test_step_records_the_outcome() -> None:
    reporter = Reporter(stream=io.StringIO())
    with reporter.step("web1", "switch") as record:
        record.detail = "current -> 2"
    [recorded] = reporter.records
    assert recorded is record
    assert (recorded.host, recorded.name, recorded.status, recorded.detail) == ("web1", "switch", "ok", "current -> 2")
    assert recorded.seconds >= 0


def test_failed_step_prints_failed_records_it_and_reraises() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)
    with pytest.raises(RuntimeError, match="boom"):
        with reporter.step("web2", "nginx"):
            raise RuntimeError("boom")
    [line] = lines(out)
    match = STEP_LINE.match(line)
    assert match, line
    assert (match["host"], match["name"], match["status"]) == ("web2", "nginx", "FAILED")
    assert [r.status for r in reporter.records] == ["failed"]


def test_interrupted_step_is_recorded_as_failed() -> None:
    reporter = Reporter(stream=io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        with reporter.step("web1", "venv"):
            raise KeyboardInterrupt
    assert reporter.records[0].status == "failed"


def test_announced_step_prints_its_start_then_its_outcome() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)
    with reporter.step("web1", "upload", announce=True):
        assert lines(out) == ["[web1] upload       ..."]
    assert len(lines(out)) == 2
    assert STEP_LINE.match(lines(out)[1])


def test_line_prefixes_every_line_of_a_multiline_text() -> None:
    out = io.StringIO()
    Reporter(stream=out).line("web1", "first\nsecond")
    assert lines(out) == ["[web1] first", "[web1] second"]


def test_line_without_host_has_no_prefix_and_empty_text_is_one_line() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)
    reporter.line("", "summary")
    reporter.line("web1", "")
    assert out.getvalue() == "summary\n[web1] \n"


def test_error_indents_the_message_and_marks_continuation_lines() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)
    reporter.error("web1", "nginx -t failed\nline 2\nline 3\n")
    reporter.error("web2", "")
    assert lines(out) == ["[web1]   nginx -t failed", "[web1]   | line 2", "[web1]   | line 3",
                          "[web2]   (no message)"]


class SlowStream(io.StringIO):
    """A StringIO that writes half a text, pauses, then writes the rest.

    The pause lets other threads run mid-write, so without the Reporter's
    lock, lines written from several threads would mix.
    """

    def write(self, text: str) -> int:
        half = len(text) // 2
        super().write(text[:half])
        time.sleep(0.0005)
        super().write(text[half:])
        return len(text)


def test_lines_from_eight_threads_never_interleave() -> None:
    out = SlowStream()
    reporter = Reporter(stream=out)
    steps_per_host = 8
    start = threading.Barrier(8)

    def work(host: str) -> None:
        start.wait()
        for i in range(steps_per_host):
            with reporter.step(host, f"step{i}") as record:
                record.detail = f"detail of {host} {i}"
            reporter.line(host, f"note {i}\nsecond line {i}")

    threads = [threading.Thread(target=work, args=(f"web{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    written = lines(out)
    assert len(written) == 8 * steps_per_host * 3
    for line in written:
        step = STEP_LINE.match(line)
        if step:
            assert step["detail"] == f"detail of {step['host']} {step['name'][4:]}", line
        else:
            assert re.fullmatch(r"\[(web\d)\] (note|second line) \d+", line), line
    assert len(reporter.records) == 8 * steps_per_host
    for n in range(8):
        own = [line for line in written if line.startswith(f"[web{n}] note")]
        assert own == [f"[web{n}] note {i}" for i in range(steps_per_host)]
