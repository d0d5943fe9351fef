"""Fast start on a real log: starting from the last ``dashboard.checkpoint`` gives the same state and frame as a
full replay (also at a moment, ``--at``); unusable checkpoints fall back to a full replay; a rotated set reads
as one stream; the backwards scan finds checkpoints across block boundaries."""

from __future__ import annotations

import gzip
import io
from datetime import datetime
from pathlib import Path

import orjson
from typer.testing import CliRunner

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.jsonl import load
from arbdash.dashboard.sources.seek import iter_checkpoints
from arbdash.dashboard.state import state_to_dict
from arbdash.tools.arbtail import app


def _fold(path: Path, **kw: object) -> tuple[Reducer, object]:
    r = Reducer()
    res = load(path, r, **kw)  # type: ignore[arg-type]
    return r, res


def test_the_bot_writes_checkpoints(real_log: Path) -> None:
    with open(real_log, "rb") as fh:
        cps = list(iter_checkpoints(fh, real_log.stat().st_size, block=64 * 1024))
    assert cps, "a real run writes at least one dashboard.checkpoint"
    for cp in cps:
        assert cp.state["last_seq"] == {cp.event["session_id"]: cp.event["seq"] - 1}


def test_checkpoint_seek_equals_full_replay(real_log: Path) -> None:
    full, res_full = _fold(real_log, seek=False)
    fast, res_fast = _fold(real_log, seek_min_bytes=0)
    assert res_full.checkpoint_seq is None and res_fast.checkpoint_seq is not None
    assert res_fast.bytes_read < res_full.bytes_read
    assert state_to_dict(fast.state) == state_to_dict(full.state)
    assert frame_text(fast.snapshot(), 140) == frame_text(full.snapshot(), 140)
    cli = CliRunner().invoke(app, [str(real_log), "--once", "--width", "140"])
    assert cli.stdout == frame_text(full.snapshot(), 140)


def test_at_a_moment_equals_full_replay_to_that_moment(real_log: Path) -> None:
    lines = real_log.read_bytes().splitlines()
    cp_line = next(x for x in lines if b'"dashboard.checkpoint"' in x)
    cp_ts = datetime.fromisoformat(orjson.loads(cp_line)["ts"])
    later = datetime.fromisoformat(orjson.loads(lines[-200])["ts"])
    earlier = datetime.fromisoformat(orjson.loads(lines[len(lines) // 4])["ts"])
    for at, seeks in ((later, True), (earlier, False)):
        full, _ = _fold(real_log, seek=False, until=at)
        fast, res = _fold(real_log, seek_min_bytes=0, until=at)
        assert (res.checkpoint_seq is not None) == (seeks and at >= cp_ts)
        assert frame_text(fast.snapshot(), 120) == frame_text(full.snapshot(), 120)
        assert fast.stats.applied < len(lines)


def test_unusable_checkpoints_fall_back_to_full_replay(real_log: Path, tmp_path: Path) -> None:
    data = real_log.read_bytes()
    full, _ = _fold(real_log, seek=False)
    # a checkpoint whose state lags its seq (another thread's event slipped in) is not used (the newest one: the
    # only one a reader starts from; a long run writes several)
    lines = data.splitlines(keepends=True)
    i = max(k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x)
    ev = orjson.loads(lines[i])
    ev["state"]["last_seq"] = {ev["session_id"]: ev["seq"] - 2}
    bad = tmp_path / "lagging.jsonl"
    bad.write_bytes(b"".join(lines[:i]) + orjson.dumps(ev) + b"\n" + b"".join(lines[i + 1 :]))
    r, res = _fold(bad, seek_min_bytes=0)
    assert res.checkpoint_seq is None
    assert frame_text(r.snapshot(), 120) == frame_text(full.snapshot(), 120)
    # a checkpoint in another version's state form (rates as Decimal `rate`, before `rate_text`) is not used
    j = max(k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x)
    ev = orjson.loads(lines[j])
    assert ev["state"]["rates"]
    for by_symbol in ev["state"]["rates"].values():
        for row in by_symbol.values():
            row["rate"] = row.pop("rate_text")
    old = tmp_path / "old-form.jsonl"
    old.write_bytes(b"".join(lines[:j]) + orjson.dumps(ev) + b"\n" + b"".join(lines[j + 1 :]))
    r, res = _fold(old, seek_min_bytes=0)
    assert res.checkpoint_seq is None and not r.stats.skipped.get("bad_checkpoint")
    assert frame_text(r.snapshot(), 120) == frame_text(full.snapshot(), 120)
    # a reader keeping a longer timeline than the checkpoint holds replays everything
    r = Reducer(timeline_size=50)
    assert load(real_log, r, seek_min_bytes=0).checkpoint_seq is None
    # a log that starts with another session's lines (concatenated files) replays everything
    other = tmp_path / "concat.jsonl"
    first = orjson.loads(lines[0])
    first.update(session_id="11111111-2222-4333-8444-555555555555")
    other.write_bytes(orjson.dumps(first) + b"\n" + data)
    assert _fold(other, seek_min_bytes=0)[1].checkpoint_seq is None


def test_rotated_set_reads_as_one_stream(real_log: Path, tmp_path: Path) -> None:
    lines = real_log.read_bytes().splitlines(keepends=True)
    n = len(lines) // 3
    base = tmp_path / "session.jsonl"
    (tmp_path / "session.jsonl.2.gz").write_bytes(gzip.compress(b"".join(lines[:n])))
    (tmp_path / "session.jsonl.1").write_bytes(b"".join(lines[n : 2 * n]))
    base.write_bytes(b"".join(lines[2 * n :]))
    (tmp_path / "session.jsonl.bak").write_bytes(b"not part of the set\n")
    full, _ = _fold(real_log, seek=False)
    rotated, res = _fold(base, seek=False)
    assert rotated.stats.skipped == {}
    assert state_to_dict(rotated.state) == state_to_dict(full.state)
    stats = CliRunner().invoke(app, ["stats", str(base)]).stdout
    assert f"{len(lines)} lines" in stats and "seq gaps   0" in stats


def test_backwards_scan_across_block_boundaries() -> None:
    events = [orjson.dumps({"seq": i, "pad": "x" * (i * 37 % 300)}) for i in range(200)]
    cps = {17, 90, 91, 199}
    for i in cps:
        events[i] = orjson.dumps(
            {
                "v": 1,
                "ts": "2026-03-01T00:00:00+00:00",
                "session_id": "s",
                "seq": i,
                "event": "dashboard.checkpoint",
                "state": {"n": i, "pad": "y" * 500},
            }
        )
    data = b"\n".join(events) + b"\n"
    for block in (7, 64, 1000, 1 << 20):
        found = list(iter_checkpoints(io.BytesIO(data), len(data), block=block))
        assert [cp.event["seq"] for cp in found] == sorted(cps, reverse=True)
        for cp in found:
            assert data[cp.offset : cp.end] == cp.line + b"\n"


def test_backward_blocks_are_whole_lines_and_leave_out_an_over_long_one(monkeypatch: object) -> None:
    """``iter_blocks_backwards`` (the checkpoint search and the log's last time use it) gives every line once,
    whole, newest first, at any block size; a line over ``MAX_LINE_BYTES`` spanning blocks is left out (never
    held), its neighbours kept."""
    from arbdash.dashboard.sources import seek

    monkeypatch.setattr(seek, "MAX_LINE_BYTES", 300)  # type: ignore[attr-defined]
    lines = [b"line %d %s" % (i, b"x" * (i * 53 % 120)) for i in range(60)]
    lines[30] = b"L" * 1000  # over the limit
    data = b"\n".join(lines) + b"\n"
    for block in (7, 64, 250, 1 << 20):
        got: list[bytes] = []
        for base, body in seek.iter_blocks_backwards(io.BytesIO(data), len(data), block=block):
            assert body.endswith(b"\n") and data[base : base + len(body)] == body
            got.extend(reversed(body[:-1].split(b"\n")))
        kept = [x for x in reversed(lines) if block >= len(data) or len(x) <= 300]
        assert got == kept, block


def test_seek_counts_lines_before_the_checkpoint_as_a_full_replay_does(
    real_log: Path, tmp_path: Path
) -> None:
    """Lines in the file the bot's reducer never saw (a line too long to read, garbage) before the checkpoint a
    seek would start from: the seeked frame counts them as the full replay and ``arbtail stats`` do — the
    checkpoint's own counters do not replace them (issue 10, item 6). Damage before the only checkpoint means a
    full replay; damage between two checkpoints, a start from the older one."""
    lines = real_log.read_bytes().splitlines(keepends=True)
    j = next(k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x)
    damage = [b"this is not json\n", b'{"v":1,"message":"' + b"x" * (17 * 1024 * 1024) + b'"}\n']
    want_skipped = {"not_json": 1, "too_long": 1}
    before = tmp_path / "before.jsonl"
    before.write_bytes(b"".join([*lines[: j // 2], *damage, *lines[j // 2 :]]))
    full, _ = _fold(before, seek=False)
    fast, res = _fold(before, seek_min_bytes=0)
    assert full.stats.skipped == want_skipped
    assert fast.stats.skipped == want_skipped
    assert state_to_dict(fast.state) == state_to_dict(full.state)
    assert frame_text(fast.snapshot(), 140) == frame_text(full.snapshot(), 140)
    assert "skipped lines: 2 (" in frame_text(fast.snapshot(), 140)
    # a newer checkpoint after the damage, as the bot's reducer (which never saw the damage) would write it
    live = Reducer()
    live.feed_lines([x[:-1] for x in lines])
    last = orjson.loads(lines[-1])
    cp = orjson.loads(lines[j])
    cp.update(
        seq=last["seq"] + 1,
        ts=last["ts"],
        market_ts=last.get("market_ts"),
        state=state_to_dict(live.state),
        message=f"dashboard checkpoint after seq {last['seq']}",
    )
    k = (j + len(lines)) // 2
    between = tmp_path / "between.jsonl"
    between.write_bytes(b"".join([*lines[:k], *damage, *lines[k:], orjson.dumps(cp) + b"\n"]))
    full, _ = _fold(between, seek=False)
    fast, res = _fold(between, seek_min_bytes=0)
    assert res.checkpoint_seq == orjson.loads(lines[j])["seq"]  # the older checkpoint, before the damage
    assert fast.stats.skipped == full.stats.skipped == want_skipped
    assert state_to_dict(fast.state) == state_to_dict(full.state)
    assert frame_text(fast.snapshot(), 140) == frame_text(full.snapshot(), 140)
    # without damage, the newest checkpoint is the start
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"".join([*lines, orjson.dumps(cp) + b"\n"]))
    assert _fold(clean, seek_min_bytes=0)[1].checkpoint_seq == cp["seq"]


def test_seek_in_a_rotated_set_counts_its_older_members_text(real_log: Path, tmp_path: Path) -> None:
    """The checkpoint's place in the log's text spans the older members: a ``.gz`` one counts its uncompressed
    bytes and a byte-order mark at a member's start is not text, so a clean rotated set still starts from its
    checkpoint, and reaches the state a full replay does."""
    lines = real_log.read_bytes().splitlines(keepends=True)
    j = next(k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x)
    base = tmp_path / "session.jsonl"
    (tmp_path / "session.jsonl.2.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + b"".join(lines[: j // 3])))
    (tmp_path / "session.jsonl.1").write_bytes(b"".join(lines[j // 3 : j // 2]))
    base.write_bytes(b"\xef\xbb\xbf" + b"".join(lines[j // 2 :]))
    full, _ = _fold(real_log, seek=False)
    fast, res = _fold(base, seek_min_bytes=0)
    # a long run writes several checkpoints: the newest is the start
    newest = max(k for k, x in enumerate(lines) if b'"dashboard.checkpoint"' in x)
    assert res.checkpoint_seq == orjson.loads(lines[newest])["seq"]
    assert state_to_dict(fast.state) == state_to_dict(full.state)
