"""The file writer holds lines while the disk refuses them and writes them once it accepts again: in order, none
twice, none torn — including after a short write — with a bounded hold and a counted loss beyond it."""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

from arbdash.logging_pipeline.sinks.jsonl import JsonlSink
from arbdash.logging_pipeline.writer import BatchFileWriter


class FlakyDisk:
    """Wraps the writer's unbuffered file: ``full`` → ENOSPC; ``short`` → the next write takes only half."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.full = False
        self.short = False
        self.refused = 0

    def write(self, data: Any) -> int:
        if self.full:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        if self.short and len(data) > 1:
            self.short = False
            self.full = True  # a short write, then the disk is full
            return self.real.write(data[: len(data) // 2])
        return self.real.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _writer(tmp_path: Path, **kw: Any) -> tuple[BatchFileWriter, FlakyDisk]:
    w = BatchFileWriter(tmp_path / "s.jsonl", flush_interval_s=0.01, retry_s=0.05, **kw)
    w.open()
    disk = FlakyDisk(w._file)
    w._file = disk
    return w, disk


def _wait(cond: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _lines(n: int, start: int = 0) -> list[bytes]:
    return [b'{"seq":%d,"pad":"%s"}' % (i, b"x" * (i % 50)) for i in range(start, start + n)]


def test_lines_held_during_a_full_disk_land_in_order_once_it_has_room(tmp_path: Path) -> None:
    w, disk = _writer(tmp_path)
    first, during, after = _lines(100), _lines(300, 100), _lines(100, 400)
    for x in first:
        w.submit(x)
    _wait(lambda: w.written == 100, "the first lines")
    disk.full = True
    for x in during:
        w.submit(x)
    _wait(lambda: w.error is not None and disk.refused >= 3, "a few refused retries")
    assert w.held == 300 and w.dropped == 0 and "No space left" in w.error
    disk.full = False
    _wait(lambda: w.error is None, "the retry to succeed")
    for x in after:
        w.submit(x)
    assert w.close()
    assert w.path.read_bytes() == b"".join(x + b"\n" for x in first + during + after)
    assert (w.written, w.held, w.dropped, w.recoveries) == (500, 0, 0, 1)


def test_a_short_write_is_continued_where_it_stopped(tmp_path: Path) -> None:
    w, disk = _writer(tmp_path)
    lines = _lines(200)
    disk.short = True
    for x in lines[:150]:
        w.submit(x)
    _wait(lambda: w.error is not None, "the short write and the error after it")
    assert 0 < w.written < 150 and w.written + w.held == 150
    disk.full = False
    for x in lines[150:]:
        w.submit(x)
    _wait(lambda: w.error is None and w.written == 200, "recovery")
    assert w.close()
    assert w.path.read_bytes() == b"".join(x + b"\n" for x in lines)  # no torn or doubled line


def test_the_hold_is_bounded_and_what_it_cannot_keep_is_counted(tmp_path: Path) -> None:
    lines = _lines(400)
    cap = sum(len(x) + 1 for x in lines[:50])
    w, disk = _writer(tmp_path, hold_bytes=cap)
    disk.full = True
    w.submit(lines[0])
    _wait(lambda: w.error is not None, "the first refusal")
    for x in lines[1:300]:
        w.submit(x)
    _wait(lambda: w.held + w.dropped == 300, "the writer to take every line")
    assert w.held == 50 and w.dropped == 250
    disk.full = False
    _wait(lambda: w.error is None, "recovery")
    for x in lines[300:]:
        w.submit(x)
    assert w.close()
    assert w.path.read_bytes() == b"".join(x + b"\n" for x in lines[:50] + lines[300:])
    assert w.written + w.dropped == 400


def test_lines_still_held_at_close_are_counted_as_dropped(tmp_path: Path) -> None:
    w, disk = _writer(tmp_path)
    disk.full = True
    for x in _lines(20):
        w.submit(x)
    _wait(lambda: w.error is not None, "the refusal")
    assert w.close()
    assert (w.written, w.held, w.dropped) == (0, 0, 20)
    assert w.path.read_bytes() == b""


def test_the_sink_is_degraded_while_the_disk_is_full_and_ok_after(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "s.jsonl", flush_interval_s=0.01)
    sink._writer.retry_s = 0.05
    sink._writer.open()
    disk = FlakyDisk(sink._writer._file)
    sink._writer._file = disk
    disk.full = True
    sink.write(b'{"seq":1}', {})
    _wait(lambda: sink._writer.error is not None, "the refusal")
    sink.check()
    assert sink.health == "degraded" and "No space left" in (sink.health_reason or "")
    disk.full = False
    _wait(lambda: sink._writer.error is None, "recovery")
    sink.check()
    assert sink.health == "ok" and sink.held == 0 and sink.dropped == 0 and sink.written == 1
    assert sink._writer.close()


def test_counters_count_records_even_when_a_record_spans_lines(tmp_path: Path) -> None:
    """The text log submits multi-line records (a stage banner is three lines): ``written``/``held``/``dropped``
    count records, also after a short write that ends inside one."""
    w, disk = _writer(tmp_path)
    banners = [b"=====\nbanner %d\n=====" % i for i in range(10)]
    disk.short = True  # half of the first batch lands, mid-record, then the disk is full
    for b in banners:
        w.submit(b)
    _wait(lambda: w.error is not None, "the refusal")
    assert 0 < w.written < 10 and w.written + w.held == 10
    disk.full = False
    _wait(lambda: w.error is None, "recovery")
    assert (w.written, w.held, w.dropped) == (10, 0, 0)
    assert w.close()
    assert w.path.read_bytes() == b"".join(b + b"\n" for b in banners)
    w2, disk2 = _writer(tmp_path / "never")
    disk2.full = True
    for b in banners:
        w2.submit(b)
    _wait(lambda: w2.error is not None, "the refusal")
    assert (w2.written, w2.held) == (0, 10)
    assert w2.close()
    assert (w2.written, w2.held, w2.dropped) == (0, 0, 10)
