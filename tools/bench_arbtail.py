"""Benchmark of ``arbtail`` on a big generated log: time to first frame (checkpoint seek), full replay speed
against a bare ``orjson.loads`` loop over the same file (same run), and peak memory (small vs big log).

    python -m arbdash.tools.bench_arbtail                 # 200 MB log (quick)
    python -m arbdash.tools.bench_arbtail --size-mb 1000  # the 1 GB figure in the README
    python -m arbdash.tools.bench_arbtail --source logs/<session>.jsonl --keep DIR

The log is generated from one real paper run (``runbot --speed 0``, ~30k events, or ``--source``): its lines
are replicated with ``seq``, ``ts``, ``market_ts``, ``next_funding_ts`` and position ids rewritten so every copy
continues the session, and a ``dashboard.checkpoint`` with the true folded state is written every
``--checkpoint-every`` events, as the bot does. The bare loop and the full replay run ``--repeat`` times,
alternating, and each is reported by its best run (the least disturbed by other work on the machine), so their
ratio compares like with like; on a machine whose speed drifts within seconds (a shared VM) the per-block
interleaved comparison (``interleaved``) is the steadier figure. Not a test: nothing here asserts; it prints a
table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import frame_text
from arbdash.dashboard.sources.jsonl import load
from arbdash.dashboard.sources.lines import BLOCK_BYTES, LineSplitter
from arbdash.dashboard.state import state_to_dict

ROOT = Path(__file__).resolve().parent.parent


def real_run(out_dir: Path, *, timeout: float | None = None) -> Path:
    """One paper run of the shipped config at full speed into ``out_dir`` (``timeout`` seconds at most); returns its
    JSONL. Raises ``subprocess.CalledProcessError`` / ``TimeoutExpired``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "arbdash.tools.runbot_cli",
            "--config",
            str(ROOT / "configs/funding_arb_paper.yml"),
            "--speed",
            "0",
            "--dashboard-mode=silent",
            "--log-dir",
            str(out_dir),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
    )
    return next(out_dir.glob("*.jsonl"))


class _Shift:
    """ISO timestamps moved by a whole number of spans; parsed once per distinct string per copy."""

    def __init__(self, delta: timedelta) -> None:
        self.delta = delta
        self.cache: dict[str, str] = {}

    def __call__(self, raw: str) -> str:
        out = self.cache.get(raw)
        if out is None:
            out = self.cache[raw] = (datetime.fromisoformat(raw) + self.delta).isoformat()
        return out


def generate(source: Path, target: Path, size_bytes: int, checkpoint_every: int) -> int:
    """Write ``target`` (≥ ``size_bytes``) from copies of ``source``; returns the number of lines."""
    base = [orjson.loads(x) for x in source.read_bytes().splitlines() if x.strip()]
    base = [ev for ev in base if type(ev) is dict and ev.get("event") != "dashboard.checkpoint"]
    ts0, ts1 = datetime.fromisoformat(base[0]["ts"]), datetime.fromisoformat(base[-1]["ts"])
    market = [datetime.fromisoformat(ev["market_ts"]) for ev in base if ev.get("market_ts")]
    wall_span = ts1 - ts0 + timedelta(seconds=1)
    market_span = max(market) - min(market) + timedelta(days=1)
    reducer = Reducer()
    seq = 0
    written = n = since_cp = 0
    with open(target, "wb") as fh:
        copy = 0
        while written < size_bytes:
            wall, mkt = _Shift(wall_span * copy), _Shift(market_span * copy)
            out = []
            for ev in base:
                ev = dict(ev)
                seq += 1
                ev["seq"] = seq
                ev["ts"] = wall(ev["ts"])
                if ev.get("market_ts"):
                    ev["market_ts"] = mkt(ev["market_ts"])
                if "next_funding_ts" in ev:
                    ev["next_funding_ts"] = mkt(ev["next_funding_ts"])
                if "position_id" in ev and copy:
                    ev["position_id"] = f"{ev['position_id']}-c{copy}"
                line = orjson.dumps(ev)
                reducer.feed_line(line)
                out.append(line)
                since_cp += 1
                if since_cp >= checkpoint_every:
                    seq += 1
                    cp = {
                        **{k: ev[k] for k in ("v", "ts", "session_id", "level")},
                        "seq": seq,
                        "logger": "dashboard.checkpoints",
                        "event": "dashboard.checkpoint",
                        "category": "checkpoint",
                        "message": f"dashboard checkpoint after seq {seq - 1}",
                        "market_ts": ev.get("market_ts"),
                        "state": state_to_dict(reducer.state),
                    }
                    line = orjson.dumps(cp)
                    reducer.feed_line(line)
                    out.append(line)
                    since_cp = 0
            data = b"\n".join(out) + b"\n"
            fh.write(data)
            written += len(data)
            n += len(out)
            copy += 1
    return n


def bare_loop(path: Path) -> tuple[int, float]:
    """``for line in file: orjson.loads(line)`` — the yardstick. Returns (lines, seconds)."""
    t = time.perf_counter()
    n = 0
    loads = orjson.loads
    with open(path, "rb") as fh:
        for line in fh:
            loads(line)
            n += 1
    return n, time.perf_counter() - t


def replay(path: Path) -> tuple[int, float]:
    """Full replay through the reducer (no checkpoint). Returns (events folded, seconds)."""
    t = time.perf_counter()
    r = Reducer()
    load(path, r, seek=False)
    frame_text(r.snapshot(), 120)
    st = r.stats
    return st.applied + st.skipped_total + st.rejected_total + st.unknown_total, time.perf_counter() - t


def interleaved(path: Path) -> tuple[int, float, float]:
    """The same comparison, robust to a machine whose speed drifts from second to second: each 1 MiB block is
    split into lines (``LineSplitter.feed``) and parsed by the bare ``orjson.loads`` loop, and cut at its last
    newline (``LineSplitter.feed_block``) and folded by the reducer as ``arbtail`` does, the two timed back to
    back (alternating which goes first). Returns (lines, bare seconds, replay seconds), each summed over the
    blocks."""
    loads = orjson.loads
    bare_split, fold_split = LineSplitter(lambda *a: None), LineSplitter(lambda *a: None)
    r = Reducer()
    bare_s = fold_s = 0.0
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK_BYTES):
            for side in (0, 1) if n % 2 else (1, 0):
                t = time.perf_counter()
                if side == 0:
                    for line in bare_split.feed(chunk):
                        loads(line)
                    bare_s += time.perf_counter() - t
                else:
                    r.feed_block(fold_split.feed_block(chunk))
                    fold_s += time.perf_counter() - t
            n += 1
    frame_text(r.snapshot(), 120)
    st = r.stats
    return st.applied + st.skipped_total + st.rejected_total + st.unknown_total, bare_s, fold_s


def first_frame_in_process(path: Path) -> float:
    t = time.perf_counter()
    r = Reducer()
    load(path, r)
    frame_text(r.snapshot(), 120)
    return time.perf_counter() - t


_HWM = """
import atexit, runpy, sys
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("VmHWM", line.split()[1], file=sys.stderr)
atexit.register(hwm)
sys.argv = ["arbtail", *sys.argv[1:]]
runpy.run_module("arbdash.tools.arbtail", run_name="__main__")
"""


def cli(path: Path, *extra: str) -> tuple[float, int]:
    """``arbtail PATH --once`` in a fresh process: (wall seconds, its peak RSS in KiB from ``VmHWM``)."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _HWM, str(path), "--once", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t
    kib = next(int(x.split()[1]) for x in proc.stderr.splitlines() if x.startswith("VmHWM"))
    return wall, kib


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=200, help="size of the generated log (MB, default 200)")
    ap.add_argument("--source", type=Path, help="a session JSONL to replicate (default: a fresh paper run)")
    ap.add_argument("--checkpoint-every", type=int, default=20_000, help="events between checkpoints")
    ap.add_argument("--keep", type=Path, help="write the log into this directory and keep it")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs of the bare loop and of the replay (best kept)"
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        source = args.source or real_run(work / "src")
        big = work / "big.jsonl"
        t = time.perf_counter()
        lines = generate(source, big, args.size_mb * 1_000_000, args.checkpoint_every)
        gen_s = time.perf_counter() - t
        size = big.stat().st_size
        print(f"generated {big} : {size / 1e6:,.0f} MB, {lines:,} lines in {gen_s:.1f} s", flush=True)
        bare_runs, rep_runs = [], []
        for _ in range(max(1, args.repeat)):
            bare_runs.append(bare_loop(big))
            rep_runs.append(replay(big))
        (bare_n, bare_s), (rep_n, rep_s) = (
            min(bare_runs, key=lambda x: x[1]),
            min(rep_runs, key=lambda x: x[1]),
        )
        ratios = sorted((n / s) / (bn / bs) for (n, s), (bn, bs) in zip(rep_runs, bare_runs, strict=True))
        il_n, il_bare, il_fold = interleaved(big)
        ff_in = first_frame_in_process(big)
        ff_cli, rss_seek = cli(big)
        small_cli, rss_small = cli(source, "--full")
        full_cli, rss_full = cli(big, "--full")
    rows = [
        ("log", f"{size / 1e6:,.0f} MB, {lines:,} lines (source {source.stat().st_size / 1e6:,.1f} MB)"),
        ("first frame, in process (seek)", f"{ff_in * 1000:,.0f} ms"),
        ("first frame, `arbtail --once` process", f"{ff_cli * 1000:,.0f} ms (incl. interpreter start)"),
        ("bare orjson.loads loop (best run)", f"{bare_n / bare_s:,.0f} lines/s ({bare_s:.2f} s)"),
        ("full replay, reducer + frame (best run)", f"{rep_n / rep_s:,.0f} events/s ({rep_s:.2f} s)"),
        (
            "replay / bare",
            f"{(rep_n / rep_s) / (bare_n / bare_s):.2f}x (pairwise, {len(ratios)} runs: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + ")",
        ),
        (
            "replay / bare, interleaved per 1 MiB block",
            f"{il_bare / il_fold:.2f}x ({il_n:,} lines: parse {il_bare:.2f} s, fold {il_fold:.2f} s)",
        ),
        ("peak RSS --once --full, source log", f"{rss_small / 1024:,.0f} MiB ({small_cli:.2f} s)"),
        ("peak RSS --once --full, big log", f"{rss_full / 1024:,.0f} MiB ({full_cli:.2f} s)"),
        ("peak RSS --once (seek), big log", f"{rss_seek / 1024:,.0f} MiB"),
    ]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


if __name__ == "__main__":
    main()
