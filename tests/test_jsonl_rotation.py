"""JSONL rotation and retention owned by the bot (``logging.rotate_mb`` / ``logging.keep_files``).

Runs of the shipped config (``--speed 0``, about 12 MB of JSONL) with and without rotation: the rotated set
replays (``arbtail --once``) to the unrotated run's frame, holds every event once, keeps at most ``keep_files``
rotated members, and ``follow_file`` follows the bot's renames without losing or doubling an event.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from contextlib import aclosing
from pathlib import Path

import orjson
import pytest

from arbdash.bot.config import ConfigError, load_config
from arbdash.dashboard.sources.follow import follow_file
from arbdash.dashboard.sources.rotated import members
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink, RotatingFileWriter, prune_old_sessions

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"
WIDTH = 120
_VARYING = ("ts", "seq", "session_id")
_WALL_DEPENDENT = ("dashboard.checkpoint", "heartbeat", "metric")  # on a wall-clock cadence: differ per run


def _config(dirpath: Path, extra: str = "") -> Path:
    """A copy of the shipped config named ``cfg.yml`` in ``dirpath`` (the same name in every run: the frame
    shows it), with ``extra`` lines added to its ``logging`` block."""
    dirpath.mkdir(parents=True, exist_ok=True)
    text = CONFIG.read_text(encoding="utf-8")
    if extra:
        text = text.replace("\nlogging:\n", "\nlogging:\n" + extra, 1)
    cfg = dirpath / "cfg.yml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def _runbot(dirpath: Path, *, speed: str = "0", timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arbdash.tools.runbot_cli", "--config", "cfg.yml", "--speed", speed]
        + ["--dashboard-mode=silent", "--log-dir", "logs"],
        cwd=dirpath,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _run(dirpath: Path, extra: str = "") -> Path:
    _config(dirpath, extra)
    proc = _runbot(dirpath)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (live,) = (dirpath / "logs").glob("*.jsonl")
    return live


def _events(live: Path) -> list[dict]:
    out: list[dict] = []
    for member in members(live):
        out.extend(orjson.loads(line) for line in member.read_bytes().splitlines())
    return out


def _comparable(events: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in e.items() if k not in _VARYING} for e in events if e["event"] not in _WALL_DEPENDENT
    ]


def _arbtail_once(live: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "arbdash.tools.arbtail", str(live), "--once", "--width", str(WIDTH)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _normalised(frame: str, session_id: str) -> str:
    """The frame without what differs between two runs of one config: the session id, the wall clock and the
    wall-clock timings (metrics).
    Whitespace and the panes' side borders are dropped so a longer uptime wrapping a line elsewhere does not
    count; every other character is compared in order."""
    text = frame.replace(session_id, "SESSION").replace(session_id[:8], "SESSION")
    text = re.sub(r"[\s│]+", "", text)
    stamp = r"\d{4}-\d\d-\d\d\d\d:\d\d:\d\dUTC"
    text = re.sub(r"wallnow" + stamp, "wallnow", text)
    text = re.sub(r"started" + stamp, "started", text)
    text = re.sub(r"events\d+·", "events·", text)  # checkpoints and heartbeats come on the wall clock
    text = re.sub(r"metrics[^╭╰]*?(?=╭|╰|$)", "metrics", text)  # wall-clock timings (the metrics line)
    return re.sub(r"wall[0-9dhms]+", "wall", text)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("rotation")
    return {
        "plain": _run(base / "plain"),
        "rotated": _run(base / "rotated", "  rotate_mb: 2\n  keep_files: 20\n"),
        "kept": _run(base / "kept", "  rotate_mb: 1\n  keep_files: 3\n"),
    }


def test_a_small_rotate_mb_makes_several_members_of_about_that_size(runs: dict[str, Path]) -> None:
    live = runs["rotated"]
    found = members(live)
    assert len(found) >= 4, found
    assert [p.name for p in found[:-1]] == [f"{live.name}.{n}" for n in range(len(found) - 1, 0, -1)]
    limit = 2 * 1024 * 1024
    for member in found[:-1]:  # rotated right after the line that took it past 2 MiB, at a line boundary
        data = member.read_bytes()
        last = data[data.rstrip(b"\n").rfind(b"\n") + 1 :]  # that line (a checkpoint can be 100+ KiB)
        assert len(data) >= limit and len(data) - len(last) < limit, (member, len(data), len(last))
        assert data.endswith(b"\n")
    data = live.read_bytes()  # the live member: at most the limit, or just past it by its last line
    assert len(data) - len(data[data.rstrip(b"\n").rfind(b"\n") + 1 :]) < limit


def test_every_event_once_across_the_members(runs: dict[str, Path]) -> None:
    events = _events(runs["rotated"])  # every line of every member parses: no record was split
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"] == "session.started" and events[-1]["event"] == "session.stopped"


def test_rotated_record_is_the_unrotated_record(runs: dict[str, Path]) -> None:
    assert _comparable(_events(runs["rotated"])) == _comparable(_events(runs["plain"]))


def test_arbtail_replays_the_rotated_set_to_the_unrotated_frame(runs: dict[str, Path]) -> None:
    plain, rotated = runs["plain"], runs["rotated"]
    frame_plain, frame_rotated = _arbtail_once(plain), _arbtail_once(rotated)
    assert "positions" in frame_rotated and "timeline" in frame_rotated
    assert _normalised(frame_rotated, rotated.name.removesuffix(".jsonl")) == _normalised(
        frame_plain, plain.name.removesuffix(".jsonl")
    )


def test_arbtail_frame_of_the_rotated_set_is_the_frame_of_its_lines_in_one_file(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    rotated = runs["rotated"]
    joined = tmp_path / rotated.name  # the same session's lines, unrotated: the frames must be identical
    joined.write_bytes(b"".join(p.read_bytes() for p in members(rotated)))
    assert _arbtail_once(rotated) == _arbtail_once(joined)


def test_keep_files_deletes_the_oldest_members(runs: dict[str, Path]) -> None:
    live = runs["kept"]
    found = members(live)
    assert [p.name for p in found] == [f"{live.name}.{n}" for n in (3, 2, 1)] + [live.name]
    assert sorted(p.name for p in live.parent.iterdir()) == sorted(p.name for p in found)
    events = _events(live)
    seqs = [e["seq"] for e in events]
    assert seqs[0] > 1  # the oldest members are gone …
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # … what is kept has no gap and no duplicate
    assert events[-1]["event"] == "session.stopped"


class _Collector:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.skips: list[str] = []
        self.stopped = False

    def feed_lines(self, lines: list[bytes]) -> int:
        for line in lines:
            event = orjson.loads(line)
            self.seqs.append(event["seq"])
            self.stopped = self.stopped or event["event"] == "session.stopped"
        return len(lines)

    def note_skip(self, reason: str, detail: str = "") -> None:
        self.skips.append(f"{reason} {detail}")


def test_follow_across_the_bots_rotations_sees_every_event_once(tmp_path: Path) -> None:
    # ~7 s of wall time for the four months: a rotation every ~1 s, which a follower polling every 50 ms
    # keeps up with (a follower more than one rotation behind loses a member, as ``tail -F`` does)
    _config(tmp_path, "  rotate_mb: 2\n  keep_files: 20\n")
    logs = tmp_path / "logs"

    async def scenario() -> tuple[_Collector, list[str], int, Path]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "arbdash.tools.runbot_cli", "--config", "cfg.yml", "--speed", "1600000"),
            *("--dashboard-mode=silent", "--log-dir", "logs"),
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            for _ in range(3000):
                found = list(logs.glob("*.jsonl")) if logs.is_dir() else []
                if found:
                    break
                await asyncio.sleep(0.01)
            (path,) = found
            assert not list(logs.glob("*.jsonl.*")), "the first rotation came before the follower started"
            sink, notices = _Collector(), []

            async def consume() -> None:
                async with aclosing(follow_file(path, sink, poll_s=0.05, on_notice=notices.append)) as it:
                    async for _ in it:
                        if sink.stopped:
                            return

            await asyncio.wait_for(consume(), 150)
            _, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()[-3000:]
            return sink, notices, proc.returncode, path
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    sink, notices, _, path = asyncio.run(scenario())
    rotated = len(members(path)) - 1
    assert rotated >= 3
    assert sum("rotated" in n or "moved" in n for n in notices) >= rotated, notices
    assert not sink.skips
    on_disk = [e["seq"] for e in _events(path)]
    assert sink.seqs == on_disk == list(range(1, len(on_disk) + 1))


def test_writer_rotates_at_line_boundaries_and_keeps_keep_files(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    writer = RotatingFileWriter(path, rotate_bytes=1000, keep_files=2, flush_interval_s=0.01)
    writer.open()
    lines = [orjson.dumps({"seq": n, "pad": "x" * (n % 37)}) for n in range(1, 401)]
    for line in lines:
        writer.submit(line)
    assert writer.close(10)
    found = members(path)
    assert [p.name for p in found] == ["x.jsonl.2", "x.jsonl.1", "x.jsonl"]
    assert writer.rotations > 2 and writer.rotate_error is None
    kept = b"".join(p.read_bytes() for p in found).splitlines()
    assert kept == lines[-len(kept) :]  # the newest lines, whole and in order
    for member in found[:-1]:
        assert member.stat().st_size >= 1000 and member.read_bytes().endswith(b"\n")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  rotate_mb: 0\n", "logging.rotate_mb: must be > 0"),
        ("  rotate_mb: -5\n", "logging.rotate_mb: must be > 0"),
        ("  keep_files: 0\n", "logging.keep_files: must be >= 1"),
        ("  keep_days: 0\n", "logging.keep_days: Input should be greater than or equal to 1"),
    ],
)
def test_bad_rotation_settings_are_one_clear_config_error(tmp_path: Path, line: str, message: str) -> None:
    cfg = _config(tmp_path, line)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    (problem,) = info.value.problems
    assert message in problem and re.match(r".*cfg\.yml:\d+: ", str(info.value))


def test_runbot_refuses_rotate_mb_zero_with_exit_2(tmp_path: Path) -> None:
    _config(tmp_path, "  rotate_mb: 0\n")
    proc = _runbot(tmp_path, timeout=60)
    assert proc.returncode == 2
    assert re.fullmatch(r"runbot: cfg\.yml:\d+: logging\.rotate_mb: must be > 0 .*\n", proc.stderr), (
        proc.stderr
    )
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").iterdir())


def _old_set(log_dir: Path, session: str, days_ago: float, *names: str) -> list[Path]:
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.time() - days_ago * 86400
    out = []
    for name in names:
        path = log_dir / f"{session}{name}"
        path.write_bytes(b'{"v":1}\n')
        os.utime(path, (stamp, stamp))
        out.append(path)
    return out


_OLD = "11111111-2222-3333-4444-555555555555"
_RECENT = "66666666-7777-8888-9999-aaaaaaaaaaaa"


def test_keep_days_prunes_old_sessions_sets_only(tmp_path: Path) -> None:
    old = _old_set(tmp_path, _OLD, 10, ".jsonl", ".jsonl.1", ".jsonl.2.gz")
    # a set whose live file is recent stays whole, old rotated members included
    recent = _old_set(tmp_path, _RECENT, 10, ".jsonl.1") + _old_set(tmp_path, _RECENT, 0.5, ".jsonl")
    others = _old_set(tmp_path, "notes", 30, ".jsonl") + _old_set(tmp_path, _OLD, 30, ".pgspool.jsonl")
    removed = prune_old_sessions(tmp_path, 3)
    assert sorted(removed) == sorted(old)
    assert all(p.exists() for p in recent + others)


def test_runbot_with_keep_days_deletes_old_sessions_records(tmp_path: Path) -> None:
    old = _old_set(tmp_path / "logs", _OLD, 5, ".jsonl", ".jsonl.1")
    recent = _old_set(tmp_path / "logs", _RECENT, 0.5, ".jsonl")
    _config(tmp_path, "  keep_days: 2\n")
    proc = _runbot(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not any(p.exists() for p in old) and all(p.exists() for p in recent)
    assert len(list((tmp_path / "logs").glob("*.jsonl"))) == 2  # the recent one and this run's


def test_a_failed_rotation_keeps_writing_and_degrades_until_it_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.jsonl"
    sink = JsonlSink(path, rotate_bytes=200, keep_files=5, flush_interval_s=0.01)
    real_replace = os.replace

    def refuse(src: object, dst: object) -> None:
        raise OSError(30, "Read-only file system")

    async def scenario() -> None:
        await sink.start()
        monkeypatch.setattr(os, "replace", refuse)
        for n in range(1, 21):
            sink.write(orjson.dumps({"seq": n}), {})
        sink._writer.flush()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if sink.written == 20:
                break
        sink.check()
        assert sink.health == "degraded" and "rotation failed" in (sink.health_reason or "")
        assert members(path) == [path]  # everything still in the live file
        monkeypatch.setattr(os, "replace", real_replace)
        for n in range(21, 41):
            sink.write(orjson.dumps({"seq": n}), {})
        await sink.aclose()
        sink.check()
        assert sink.health == "ok"

    asyncio.run(scenario())
    assert len(members(path)) > 1
    assert [e["seq"] for e in _events(path)] == list(range(1, 41))
