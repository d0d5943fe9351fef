"""One replay protocol: every viewer feature — the state at the end, ``--at``, playback with keys between
``--from`` and ``--to``, export, follow — gives the same result on a JSONL file, a rotated set and a PostgreSQL
session holding the same events, through the one view module (``tools.arbtail_view``).

The events are the first lines of a real paper run (``real_log``): market times, fills, positions, checkpoints.
The expected frames are what the file source draws; the other sources must draw them too.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.dashboard.sources.protocol import ReplaySource, SourceError
from arbdash.dashboard.timeaxis import line_time
from arbdash.tools.arbtail_export import export_frame
from arbdash.tools.arbtail_view import playback

LINES = 3000  # enough for positions to open and close, and for several checkpoints

SourceFactory = Callable[[], ReplaySource]


@pytest.fixture
def stretch(real_log: Path, tmp_path: Path) -> Path:
    """The first ``LINES`` lines of the real run, as a log file of their own."""
    with real_log.open("rb") as fh:
        head = [fh.readline() for _ in range(LINES)]
    path = tmp_path / "stretch" / "session.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"".join(head))
    return path


def _rotated(path: Path, tmp_path: Path) -> Path:
    """The same lines as a rotated set: ``x.jsonl.2``, ``x.jsonl.1``, ``x.jsonl``."""
    lines = path.read_bytes().splitlines(keepends=True)
    out = tmp_path / "rotated" / "session.jsonl"
    out.parent.mkdir()
    third = len(lines) // 3
    out.with_name("session.jsonl.2").write_bytes(b"".join(lines[:third]))
    out.with_name("session.jsonl.1").write_bytes(b"".join(lines[third : 2 * third]))
    out.write_bytes(b"".join(lines[2 * third :]))
    return out


@pytest.fixture(params=["file", "rotated", "postgres"])
def source(request: pytest.FixtureRequest, stretch: Path, tmp_path: Path) -> SourceFactory:
    """A factory of fresh sources over the stretch's events, of each kind."""
    if request.param == "file":
        return lambda: JsonlSource(stretch)
    if request.param == "rotated":
        rotated = _rotated(stretch, tmp_path)
        return lambda: JsonlSource(rotated)
    from arbdash.dashboard.sources.postgres import PostgresSource
    from arbdash.tools.pg_admin import import_jsonl

    dsn = request.getfixturevalue("pg_dsn")
    asyncio.run(import_jsonl(dsn, stretch))
    sid = orjson.loads(stretch.read_bytes().split(b"\n", 1)[0])["session_id"]
    return lambda: PostgresSource(dsn, sid, poll_s=0.1)


def _market_times(path: Path) -> list[datetime]:
    return [t for raw in path.read_bytes().splitlines() if (t := line_time(raw, "market")) is not None]


def _frame(reducer: Reducer) -> str:
    return frame_text(reducer.snapshot(), 140)


async def _load(make: SourceFactory, **kw: object) -> tuple[Reducer, bool]:
    reducer = Reducer()
    async with make() as src:
        stopped = await src.load(reducer, **kw)  # type: ignore[arg-type]
    return reducer, stopped


def _want(stretch: Path, **kw: object) -> Reducer:
    reducer, _ = asyncio.run(_load(lambda: JsonlSource(stretch), seek=False, **kw))
    return reducer


def test_the_end_and_a_moment_are_the_same_frame(source: SourceFactory, stretch: Path) -> None:
    got, stopped = asyncio.run(_load(source))
    assert not stopped
    assert got.stats.applied > 0
    assert _frame(got) == _frame(_want(stretch))
    at = _market_times(stretch)[len(_market_times(stretch)) // 2]
    got, stopped = asyncio.run(_load(source, until=at, clock="market"))
    want = _want(stretch, until=at, clock="market")
    assert stopped and 0 < got.stats.applied == want.stats.applied
    assert _frame(got) == _frame(want)


def test_the_span_and_the_time_axis(source: SourceFactory, stretch: Path) -> None:
    market = _market_times(stretch)

    async def probe() -> tuple[object, ...]:
        async with source() as src:
            return (
                await src.first_time("market"),
                await src.last_time("market"),
                await src.time_axis("market"),
                await src.exists(),
            )

    first, last, axis, exists = asyncio.run(probe())
    assert (first, last) == (market[0], market[-1])
    assert axis == ("market", None) and exists


def _play(
    make: SourceFactory, *, start: datetime | None, end: datetime | None, keys: dict[int, list[str]]
) -> tuple[Reducer, list[float], int]:
    """A playback at 3600x between ``start`` and ``end``, with keys typed during given sleeps; sleeps are
    recorded, not slept."""
    reducer = Reducer()
    waits: list[float] = []
    now = [0.0]

    async def main() -> int:
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def sleep(s: float) -> None:
            waits.append(s)
            now[0] += s
            for key in keys.get(len(waits), []):
                queue.put_nowait(key)

        async with make() as src:
            return await playback(
                src,
                reducer,
                Console(file=io.StringIO(), width=120),
                120,
                speed=3600,
                start=start,
                end=end,
                sleep=sleep,
                keys=queue,
                now=lambda: now[0],
                clock="market",
            )

    played = asyncio.run(main())
    return reducer, waits, played


def test_playback_with_keys_from_to_is_the_same_everywhere(source: SourceFactory, stretch: Path) -> None:
    """``--from/--to/--speed`` with ``j`` (skip) and ``q`` typed during the waits: the same waits, the same
    events played and the same frame where it stopped, whatever holds the events."""
    market = _market_times(stretch)
    start, end = market[len(market) // 4], market[3 * len(market) // 4]
    keys = {2: ["j"], 6: ["+"], 9: ["q"]}
    want, want_waits, want_played = _play(lambda: JsonlSource(stretch), start=start, end=end, keys=keys)
    got, waits, played = _play(source, start=start, end=end, keys=keys)
    assert want_played > 0 and len(want_waits) >= 9  # the keys were typed, ``q`` stopped it
    assert (played, waits) == (want_played, want_waits)
    assert _frame(got) == _frame(want)
    unstopped, _, _ = _play(source, start=start, end=end, keys={})
    assert _frame(unstopped) == _frame(_want(stretch, until=end, clock="market"))


def _svg_body(path: Path) -> str:
    """An SVG without what names its source: the title (``arbtail <label>``) and the ids Rich derives from it."""
    text = re.sub(r"terminal-\d+", "terminal-ID", path.read_text())
    return re.sub(r"arbtail(&#160;| )[^<]*<", "arbtail TITLE<", text)


def test_export_is_the_same_everywhere(source: SourceFactory, stretch: Path, tmp_path: Path) -> None:
    at = _market_times(stretch)[len(_market_times(stretch)) // 3]
    want, got = tmp_path / "want.svg", tmp_path / "got.svg"
    asyncio.run(export_frame(JsonlSource(stretch), svg=want, html=None, at=at, clock="market"))
    asyncio.run(export_frame(source(), svg=got, html=None, at=at, clock="market"))
    assert "positions" in want.read_text() and "arbtail TITLE<" in _svg_body(want)
    assert _svg_body(got) == _svg_body(want)


def test_a_moment_before_the_session_is_a_clear_error(source: SourceFactory, stretch: Path) -> None:
    """Nothing at or before the moment: every source lets the viewer say what the session's span is."""
    from arbdash.tools.arbtail_view import show

    before = _market_times(stretch)[0] - timedelta(days=1)
    with pytest.raises(SourceError, match="no event at or before .* on the market clock .*starts at"):
        asyncio.run(show(source(), once=True, width=100, at=before, clock="market"))


async def _add(kind: str, src: ReplaySource, lines: list[bytes], tmp_path: Path) -> None:
    """Add events to the session behind ``src``: append them to the live file, or store them in PostgreSQL."""
    if kind != "postgres":
        assert isinstance(src, JsonlSource)
        with src.path.open("ab") as fh:
            fh.write(b"".join(lines))
        return
    from arbdash.tools.pg_admin import import_jsonl

    extra = tmp_path / "extra.jsonl"
    extra.write_bytes(b"".join(lines))
    await import_jsonl(src._dsn, extra)  # type: ignore[attr-defined]


def test_follow_folds_what_arrives(
    request: pytest.FixtureRequest, source: SourceFactory, real_log: Path, tmp_path: Path
) -> None:
    """After ``load``, ``follow`` folds the events added later and yields so the viewer redraws."""
    kind = request.node.callspec.params["source"]
    with real_log.open("rb") as fh:
        lines = [fh.readline() for _ in range(LINES + 200)]
    more = lines[LINES:]
    want = Reducer()
    for raw in lines:
        want.feed_line(raw)

    async def main() -> Reducer:
        reducer = Reducer()
        async with source() as src:
            await src.load(reducer)
            follower = src.follow(reducer, lambda _text: None)
            await _add(kind, src, more, tmp_path)
            while reducer.stats.applied < want.stats.applied:
                await asyncio.wait_for(anext(follower), 10)
            await follower.aclose()
        return reducer

    assert _frame(asyncio.run(main())) == _frame(want)


def test_the_cli_plays_a_database_session_back(pg_dsn: str, stretch: Path) -> None:
    """``arbtail --db DSN --session ID --from --to --speed`` (refused before the one protocol) ends on the frame
    the same command ends on for the log file: the state at ``--to``."""
    from arbdash.tools.pg_admin import import_jsonl

    asyncio.run(import_jsonl(pg_dsn, stretch))
    sid = orjson.loads(stretch.read_bytes().split(b"\n", 1)[0])["session_id"]
    market = _market_times(stretch)
    window = [
        "--from",
        market[10].isoformat(),
        "--to",
        market[200].isoformat(),
        "--speed",
        "1e6",
        "--no-keys",
    ]
    arbtail = [sys.executable, "-m", "arbdash.tools.arbtail"]
    env = {**os.environ, "COLUMNS": "120"}
    want = frame_text(_want(stretch, until=market[200], clock="market").snapshot(), 120)
    for where in ([str(stretch)], ["--db", pg_dsn, "--session", sid[:8]]):
        out = subprocess.run(
            [*arbtail, *where, *window], capture_output=True, text=True, env=env, timeout=120
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.endswith(want) and "positions" in want
