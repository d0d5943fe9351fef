"""One path per line, whatever the batching: ``Reducer.feed_lines`` over chunks and ``Reducer.feed_block``
over blocks of lines (decoded in one ``decode_lines`` call when that is exact) fold exactly as ``feed_line``
line by line — same state (``state_to_dict``), same counters, same ``version``, same frame — on a real paper
run and on hostile variants of its frequent events mixed into it; and the decimal-text acceptance tests the
hot folds use (a float range test first) never accept what ``Decimal`` would refuse.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.state import state_to_dict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_lines(real_log: Path) -> list[bytes]:
    """The lines of the shared real paper run (``tests/conftest.py: real_log``)."""
    return [x for x in real_log.read_bytes().split(b"\n") if x]


def _slow(lines: list[bytes]) -> Reducer:
    r = Reducer()
    for raw in lines:
        r.feed_line(raw)
    return r


def _fast(lines: list[bytes], chunk: int = 997) -> Reducer:
    r = Reducer()
    for i in range(0, len(lines), chunk):
        r.feed_lines(lines[i : i + chunk])
    return r


def _block(lines: list[bytes], size: int = 1499) -> Reducer:
    """The lines as a file reader feeds them: in blocks of complete lines (``Reducer.feed_block``)."""
    r = Reducer()
    for i in range(0, len(lines), size):
        r.feed_block(b"".join(x + b"\n" for x in lines[i : i + size]))
    return r


def _same(lines: list[bytes]) -> Reducer:
    slow, fast = _slow(lines), _fast(lines)
    assert state_to_dict(fast.state) == state_to_dict(slow.state)
    assert fast.version == slow.version
    assert frame_text(fast.snapshot(), 160) == frame_text(slow.snapshot(), 160)
    # blocks: a reader drops empty lines (``LineSplitter``), so compare with those lines fed one by one
    kept = [x for x in lines if x]
    by_line, block = _slow(kept), _block(kept)
    assert state_to_dict(block.state) == state_to_dict(by_line.state)
    assert block.version == by_line.version
    assert frame_text(block.snapshot(), 160) == frame_text(by_line.snapshot(), 160)
    return fast


def test_real_log_same_state(real_lines: list[bytes]) -> None:
    r = _same(real_lines)
    assert r.stats.applied == len(real_lines) and not r.stats.skipped and not r.stats.rejected


def _mutations(ev: dict[str, Any]) -> list[dict[str, Any] | bytes]:
    """Hostile variants of one high-rate event: each field missing / wrong-typed / out of range."""
    out: list[dict[str, Any] | bytes] = []
    bad_values: list[Any] = [
        None,
        1,
        1.5,
        True,
        "",
        "abc",
        "NaN",
        "-Infinity",
        "0",
        "-1",
        "1e99",
        "1E-99",
        "0E-100",
        " 5 ",
        "1_0",
        "\u0663",
        "2026-03-01T00:00:00",
        "2026-03-01T00:00:00+02:00",
        "2026-13-01T00:00:00+00:00",
        [],
        {},
        # the fast path's float range test at and around its edges (see _fast_mark_ok)
        "1e58",
        "9.99e58",
        "1e59",
        "1e60",
        "1e61",
        "1e-58",
        "-1e-58",
        "1e-59",
        "1e-400",
        "0.0",
        "00",
        "-0",
        "+5",
        "1_000.5",
        "\u00a05",
        "5\u2003",
        "inf",
        "1e",
        ".",
        "5.",
    ]
    for key in (
        "v",
        "ts",
        "session_id",
        "seq",
        "event",
        "market_ts",
        "venue",
        "symbol",
        "mark_price",
        "rate",
        "interval_s",
        "next_funding_ts",
    ):
        if key not in ev:
            continue
        gone = dict(ev)
        del gone[key]
        out.append(gone)
        for val in bad_values:
            out.append({**ev, key: val})
    out += [
        {**ev, "seq": ev["seq"] - 1},
        {**ev, "seq": -1},
        {**ev, "v": 2},
        {**ev, "session_id": "other"},
        {**ev, "interval_s": 0},
        {**ev, "interval_s": -5},
        [1, 2],
        7,
        "str",
        b"not json",
        b"\xff\xfe",
        b"",
        b"x" * 100,
    ]
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
    """Two sessions alternating (the fast path's cached session must be written back on every switch): one is
    folded — the first seen, ``a``, whose ``seq`` runs back — and the other's events are counted, on every
    path."""
    base = {
        "v": 1,
        "level": "info",
        "logger": "t",
        "category": "market",
        "message": "m",
        "market_ts": "2026-03-01T00:00:00+00:00",
        "venue": "binance",
        "symbol": "BTC",
    }
    lines = []
    for i in range(1, 201):
        sid = "a" if i % 3 else "b"
        ev = {
            **base,
            "session_id": sid,
            "seq": i // 2 if sid == "a" else i,
            "event": "market.mark_price",
            "ts": f"2026-03-01T00:00:{i % 60:02d}.{i:06d}+00:00",
            "mark_price": str(100 + i),
        }
        if i % 7 == 0:
            ev = {
                **ev,
                "event": "funding.rate",
                "rate": "0.0001",
                "interval_s": 28800,
                "next_funding_ts": f"2026-03-01T{8 + i % 8:02d}:00:00+00:00",
            }
        lines.append(orjson.dumps(ev))
    r = _same(lines)
    assert r.stats.skipped.get("out_of_order_seq") or r.stats.skipped.get("duplicate_seq")
    assert r.session == "a" and r.stats.skipped["other_session:b"] == 66


def test_price_and_rate_text_tests_agree_with_decimal() -> None:
    """``price_text_ok`` answers from a float range test when it can: every string ``float`` parses into that
    range must be a positive finite decimal of sane magnitude, so its answer is always ``Decimal``'s (random
    strings over digits, signs, exponents, underscores, whitespace and non-ASCII digits)."""
    from decimal import Decimal, InvalidOperation

    from arbdash.dashboard.state import MAX_DECIMAL_EXP, decimal_text_ok, price_text_ok

    alphabet = [
        *"0123456789.eE+-_ ",
        "inf",
        "nan",
        "\u00a0",
        "\u0663",
        "\u00b2",
        "\t",
        "x",
        "1e400",
        "\u0966",
    ]
    rng = random.Random(7)
    fast = 0
    for _ in range(200_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        try:
            d = Decimal(text)
        except InvalidOperation:
            d = None
        finite = d is not None and d.is_finite()
        want_price = finite and d > 0 and d.adjusted() <= MAX_DECIMAL_EXP  # type: ignore[operator,union-attr]
        want_rate = finite and -MAX_DECIMAL_EXP < d.adjusted() < MAX_DECIMAL_EXP  # type: ignore[union-attr]
        assert price_text_ok(text) == want_price, text
        assert decimal_text_ok(text) == want_rate, text
        try:
            fast += 0.0 < float(text) < 1e59
        except ValueError:
            pass
    assert fast > 10_000  # the sample did exercise the float range test


def _renumber(line: bytes, seq: int) -> bytes:
    return line.replace(b'"seq":%d' % orjson.loads(line)["seq"], b'"seq":%d' % seq, 1)


def _raw_variants(line: bytes) -> list[bytes]:
    """Byte-level variants of one real line that a typed decoder might misread:
    duplicate keys, big integers, invalid UTF-8, out-of-range numbers, deep nesting, BOM, escapes, extra fields.
    The last two may set a huge ``seq`` (orjson reads a u64 as an int)."""
    body = line.rstrip(b"}")
    seq = b'"seq":%d' % orjson.loads(line)["seq"]
    return [
        body + b',"mark_price":"abc"}',
        body + b',"rate":"abc"}',
        body + b',"mark_price":7}',
        body + b',"event":"x"}',
        body + b',"v":2}',
        line.replace(seq, seq + b".0"),
        line.replace(seq, b'"seq":-0'),
        line.replace(b'"v":1', b'"v":true'),
        line.replace(b'"v":1', b'"v":1.0'),
        body + b',"x":123456789012345678901234567890}',
        body + b',"x":1e400}',
        body + b',"message":1e400}',
        body + b',"x":"\xff"}',
        body + b',"message":"\xff"}',
        body + b',"message":"\xed\xa0\x80"}',
        body + b',"message":"\\ud800"}',
        body + b',"message":"\\ud83d\\ude00"}',
        body + b',"message":"a\\u0000b"}',
        body + b',"message":' + b"[" * 3000 + b"]" * 3000 + b"}",
        b"\xef\xbb\xbf" + line,
        b" \t" + line + b" \r",
        line + b" x",
        line + line,
        body + b',"market_ts":null}',
        body + b',"market_ts":""}',
        body + b',"ts":"2026-03-01T00:00:00"}',
        body + b',"ts":"2026-03-01T00:00:00+02:00"}',
        body + b',"market_ts":"2026-03-01T00:00:00-05:00"}',
        body + b',"next_funding_ts":"2026-02-30T00:00:00+00:00"}',
        body + b',"interval_s":0}',
        body + b',"interval_s":9223372036854775808}',
        body + b',"": 1}',
        body + b',"rebalance_pending":1}',
        body + b',"rebalance_pending":true}',
        body + b',"side":"up"}',
        body + b',"payment":"NaN"}',
        body + b',"payment":"1e999"}',
        body + b',"position_id":"nope"}',
        body + b',"hold_code":7}',
        body + b',"long_rate":null}',
        body + b',"current_spread_apr":"x"}',
        line.replace(seq, b'"seq":123456789012345678901234567890'),
        line.replace(seq, b'"seq":18446744073709551615'),
    ]


def test_byte_level_variants_fold_the_same_per_line_and_in_blocks(real_lines: list[bytes]) -> None:
    """Every byte-level variant (each with a fresh ``seq``, followed by a good line) of each frequent event is
    counted, never raised, and folds to the same state per line as in blocks."""
    names = ("market.mark_price", "funding.rate", "funding.payment", "funding.settlement", "position.updated")
    firsts = {
        n: next(i for i, x in enumerate(real_lines) if b'"event":"%s"' % n.encode() in x) for n in names
    }
    head = real_lines[: max(firsts.values()) + 1]  # the positions the typed events refer to exist
    lines = list(head)
    nxt = max(orjson.loads(x)["seq"] for x in lines) + 1
    for name in names:
        hot = real_lines[firsts[name]]
        for k in range(len(_raw_variants(hot)) - 2):
            lines.append(_raw_variants(_renumber(hot, nxt))[k])
            lines.append(_renumber(hot, nxt + 1))
            nxt += 2
    lines += _raw_variants(_renumber(real_lines[firsts["funding.payment"]], nxt))[-2:]
    r = _same(lines)
    # a field no fold reads is skipped unread (a mark with a bad ``message`` still moves the mark), so invalid
    # UTF-8 there is not a skip; in the JSON's structure it is
    assert r.stats.applied > 200 and r.stats.skipped.get("not_json") and r.stats.rejected.get("bad_field")


def test_block_with_a_blank_line_and_a_two_value_line_folds_line_by_line(real_lines: list[bytes]) -> None:
    """``decode_lines`` passes over a whitespace-only line and reads two JSON values on one line as two events:
    together the counts would match, so the block reader also requires every line to start with ``{``."""
    head = real_lines[:50]
    nxt = max(orjson.loads(x)["seq"] for x in head) + 1
    extra = [
        b"   ",
        _renumber(real_lines[10], nxt) + b" " + _renumber(real_lines[11], nxt + 1),
        _renumber(real_lines[12], nxt + 2),
    ]
    r = _same(head + extra)
    assert r.stats.skipped.get("empty_line") == 1 and r.stats.skipped.get("not_json") == 1


def test_a_nul_run_costs_only_the_nuls_per_line_and_in_blocks(real_lines: list[bytes]) -> None:
    """What ``copytruncate`` leaves when the writer keeps its offset: a run of NUL bytes directly followed by a
    good record, no newline between (issue 10, item 6). The NULs are one skip (``nul_bytes``, their count in the
    detail) and the record after them folds — per line, per chunk and in blocks alike; a record before a NUL run
    too, and a torn record before one is counted on its own."""
    head = real_lines[:200]
    nxt = max(orjson.loads(x)["seq"] for x in head) + 1
    lines = [
        *head,
        b"\x00" * 4096 + _renumber(real_lines[200], nxt),  # the copytruncate case
        _renumber(real_lines[201], nxt + 1),
        b"\x00" * 10,  # nothing but NULs
        _renumber(real_lines[202], nxt + 2) + b"\x00" * 3,  # NULs after a record
        b'{"v":1,"ts":"2026' + b"\x00" * 50 + _renumber(real_lines[203], nxt + 3),  # a torn record before
        _renumber(real_lines[204], nxt + 4),
    ]
    r = _same(lines)
    assert r.stats.skipped == {"nul_bytes": 4, "not_json": 1}
    assert r.stats.applied == len(head) + 5 and not r.stats.rejected
    # the record after the NULs is the one that folded: its seq is the session's, in order
    assert max(r.state.last_seq.values()) == nxt + 4
