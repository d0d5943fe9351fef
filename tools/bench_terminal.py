"""Benchmark of the live view's terminal output: bytes written per market hour by full repaints against the
line diff (``dashboard.line_diff``), for the same frames in the same run (issue 15 item 2).

    python -m arbdash.tools.bench_terminal                              # runs the shipped paper config first
    python -m arbdash.tools.bench_terminal --log logs/<session>.jsonl --width 140 --height 50

A real run's log is replayed into a ``Reducer``; at every market hour (the live view at the default speed,
3600, with a 1 s refresh draws about one frame per market hour) the frame is drawn as the live view draws it —
Rich ``Live(screen=True)`` on a ``Console`` whose file is a ``TerminalWriter`` — and the one rendered frame is
handed to three writers: full repaints (no diff), line-level (changed lines rewritten whole) and the live view's
diff (changed runs of cells within lines). Each writer's thread writes to a stream that counts bytes; every
frame is waited for, so none is dropped. "Figures only" frames are those whose text, digits masked, equals the
previous frame's: only numbers moved. The safety-net full repaint (every 5 min) is left out: ``--full-every``
market hours adds one. Not a test: nothing here asserts; it prints a table.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import orjson
from rich.console import Console
from rich.live import Live

from arbdash.dashboard.line_diff import ScreenDiff
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import build_layout
from arbdash.dashboard.snapshot import LIVE_CLOSED_ROWS
from arbdash.dashboard.terminal_writer import TerminalWriter
from arbdash.tools.bench_arbtail import real_run

ROOT = Path(__file__).resolve().parent.parent
_DIGITS = re.compile(rb"[0-9]")
_ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Count:
    """A terminal that only counts what it is given (UTF-8 bytes)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8", "replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


class _Tee:
    """Rich's console file: every write and flush goes to each writer (the same frames, byte for byte)."""

    def __init__(self, writers: list[TerminalWriter]) -> None:
        self.writers = writers
        self.encoding = "utf-8"
        self.last = ""

    def write(self, text: str) -> int:
        self.last = text
        for w in self.writers:
            w.write(text)
        return len(text)

    def flush(self) -> None:
        for w in self.writers:
            w.flush()

    def isatty(self) -> bool:
        return True


def run(log: Path, width: int, height: int, full_every: int) -> dict[str, object]:
    streams = {name: _Count() for name in ("full", "lines", "diff")}
    diffs = {
        "lines": ScreenDiff(rows=lambda: height, runs=False, full_every_s=float("inf")),
        "diff": ScreenDiff(rows=lambda: height, full_every_s=float("inf")),
    }
    writers = {
        name: TerminalWriter(stream, diff=diffs.get(name))  # type: ignore[arg-type]
        for name, stream in streams.items()
    }
    tee = _Tee(list(writers.values()))
    console = Console(
        file=tee,  # type: ignore[arg-type]
        width=width,
        height=height,
        force_terminal=True,
        color_system="truecolor",
        _environ={},
    )
    live = Live(console=console, screen=True, auto_refresh=False)
    reducer = Reducer()
    frames = figures_only = 0
    per: dict[str, list[int]] = {"all": [0, 0, 0], "figures": [0, 0, 0]}
    previous_mask = b""

    def draw() -> None:
        nonlocal frames, figures_only, previous_mask
        before = [s.bytes for s in streams.values()]
        live.update(build_layout(reducer.snapshot(closed_rows=LIVE_CLOSED_ROWS)), refresh=True)
        for w in writers.values():
            w.wait_idle(30)
        spent = [s.bytes - b for s, b in zip(streams.values(), before, strict=True)]
        mask = _DIGITS.sub(b"0", _ESC.sub("", tee.last).encode())
        frames += 1
        kinds = ["all"]
        if mask == previous_mask:
            figures_only += 1
            kinds.append("figures")
        previous_mask = mask
        for kind in kinds:
            per[kind] = [a + b for a, b in zip(per[kind], spent, strict=True)]
        if full_every and frames % full_every == 0:
            for d in diffs.values():
                d.invalidate()

    live.start()
    hour = None
    with log.open("rb") as fh:
        for raw in fh:
            market = orjson.loads(raw).get("market_ts") or ""
            if market[:13] != hour and hour is not None:
                draw()
            hour = market[:13] or hour
            reducer.feed_line(raw.rstrip(b"\n"))
    draw()
    live.stop()
    for w in writers.values():
        w.close(5)
    return {
        "frames": frames,
        "figures_only": figures_only,
        "all": per["all"],
        "figures": per["figures"],
        "full_frames": {k: d.full_frames for k, d in diffs.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", type=Path, help="a runbot JSONL (default: run the shipped paper config first)")
    ap.add_argument("--width", type=int, default=140)
    ap.add_argument("--height", type=int, default=50)
    ap.add_argument("--full-every", type=int, default=0, help="market hours between safety-net full repaints")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        log = args.log or real_run(Path(tmp))
        r = run(log, args.width, args.height, args.full_every)
    print(
        f"{args.width}×{args.height}, {r['frames']} frames (one per market hour), {r['figures_only']} figures only"
    )
    print(f"full frames written by the diff writers: {r['full_frames']}")
    print("| frames | full repaint B/h | line-level B/h | ÷ full | diff (cell runs) B/h | ÷ full |")
    print("|---|---|---|---|---|---|")
    for kind, n in (("all", r["frames"]), ("figures", r["figures_only"])):
        full, lines, diff = r[kind]  # type: ignore[misc]
        n = max(int(n), 1)  # type: ignore[call-overload]
        label = "every frame" if kind == "all" else "only figures moved"
        print(
            f"| {label} ({n}) | {full / n:,.0f} | {lines / n:,.0f} | {lines / full:.3f} | "
            f"{diff / n:,.0f} | {diff / full:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
