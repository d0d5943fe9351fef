"""The replay fast path (``Reducer.feed_lines`` → ``dashboard.reducer._fold_lines``) folds exactly as ``apply``
does event by event: same state (``state_to_dict``), same counters, same frame — on a real paper run and on
hostile variants of its high-rate events (``market.mark_price`` / ``funding.rate``) mixed into it.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from dashboard.reducer import Reducer
from dashboard.render_rich import frame_text
from dashboard.state import state_to_dict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    out = tmp_path_factory.mktemp("fastpath")
    subprocess.run(
        [sys.executable, "-m", "tools.runbot_cli", "--config", str(ROOT / "configs/funding_arb_paper.yml"),
         "--speed", "0", "--dashboard-mode=silent", "--log-dir", str(out)],
        check=True, cwd=ROOT, capture_output=True,
    )
    return [x for x in next(out.glob("*.jsonl")).read_bytes().split(b"\n") if x]


def _slow(lines: list[bytes]) -> Reducer:
    r = Reducer()
    for raw in lines:
        r.feed_line(raw)
    return r


def _fast(lines: list[bytes], chunk: int = 997) -> Reducer:
    r = Reducer()
    for i in range(0, len(lines), chunk):
        r.feed_lines(lines[i:i + chunk])
    return r


def _same(lines: list[bytes]) -> Reducer:
    slow, fast = _slow(lines), _fast(lines)
    assert state_to_dict(fast.state) == state_to_dict(slow.state)
    assert fast.version == slow.version
    assert frame_text(fast.snapshot(), 160) == frame_text(slow.snapshot(), 160)
    return fast


def test_real_log_same_state(real_lines: list[bytes]) -> None:
    r = _same(real_lines)
    assert r.stats.applied == len(real_lines) and not r.stats.skipped and not r.stats.rejected


def _mutations(ev: dict[str, Any]) -> list[dict[str, Any] | bytes]:
    """Hostile variants of one high-rate event: each field missing / wrong-typed / out of range."""
    out: list[dict[str, Any] | bytes] = []
    bad_values: list[Any] = [None, 1, 1.5, True, "", "abc", "NaN", "-Infinity", "0", "-1", "1e99", "1E-99", "0E-100",
                             " 5 ", "1_0", "\u0663", "2026-03-01T00:00:00", "2026-03-01T00:00:00+02:00",
                             "2026-13-01T00:00:00+00:00", [], {}]
    for key in ("v", "ts", "session_id", "seq", "event", "market_ts", "venue", "symbol", "mark_price", "rate",
                "interval_s", "next_funding_ts"):
        if key not in ev:
            continue
        gone = dict(ev)
        del gone[key]
        out.append(gone)
        for val in bad_values:
            out.append({**ev, key: val})
    out += [{**ev, "seq": ev["seq"] - 1}, {**ev, "seq": -1}, {**ev, "v": 2}, {**ev, "session_id": "other"},
            {**ev, "interval_s": 0}, {**ev, "interval_s": -5}, [1, 2], 7, "str", b"not json", b"\xff\xfe", b"",
            b"x" * 100]
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hostile_variants_same_state(real_lines: list[bytes], seed: int) -> None:
    rng = random.Random(seed)
    hot = [i for i, raw in enumerate(real_lines) if b'"market.mark_price"' in raw or b'"funding.rate"' in raw]
    picks = set(rng.sample(hot, 60))
    lines: list[bytes] = []
    for i, raw in enumerate(real_lines[:6000]):
        lines.append(raw)
        if i in picks or (i in hot and rng.random() < 0.01):
            ev = orjson.loads(raw)
            variants = _mutations(ev)
            for v in rng.sample(variants, 8):
                lines.append(v if isinstance(v, bytes) else orjson.dumps(v))
    r = _same(lines)
    assert r.stats.skipped_total + r.stats.rejected_total + r.stats.unknown_total > 0


def test_interleaved_sessions_and_checkpoint_like_state() -> None:
    """Two sessions alternating (the fast path's cached session must be written back on every switch)."""
    base = {"v": 1, "level": "info", "logger": "t", "category": "market", "message": "m",
            "market_ts": "2026-03-01T00:00:00+00:00", "venue": "binance", "symbol": "BTC"}
    lines = []
    for i in range(200):
        sid = "a" if i % 3 else "b"
        ev = {**base, "session_id": sid, "seq": i // 2 if sid == "a" else i, "event": "market.mark_price",
              "ts": f"2026-03-01T00:00:{i % 60:02d}.{i:06d}+00:00", "mark_price": str(100 + i)}
        if i % 7 == 0:
            ev = {**ev, "event": "funding.rate", "rate": "0.0001", "interval_s": 28800,
                  "next_funding_ts": f"2026-03-01T{8 + i % 8:02d}:00:00+00:00"}
        lines.append(orjson.dumps(ev))
    r = _same(lines)
    assert r.stats.skipped.get("out_of_order_seq") or r.stats.skipped.get("duplicate_seq")
