"""Benchmark of how fast the command-line tools start: ``--help`` of ``runbot``, ``arbtail`` and each ``arbtail``
sub-command, and the first frame of a big log drawn by a new process (``arbtail FILE --once``).

    python -m arbdash.tools.bench_coldstart                          # this checkout, --help only
    python -m arbdash.tools.bench_coldstart --log /tmp/big/big.jsonl # and the first frame of that log
    python -m arbdash.tools.bench_coldstart --size-mb 1000           # generate a 1 GB log first (tools.bench_arbtail)
    python -m arbdash.tools.bench_coldstart --before /tmp/old-checkout   # the same figures for another checkout, same run

Every figure is the median wall time of ``--repeat`` new processes (``python -m arbdash.tools.<cli> …`` run in the
checkout's directory, so ``--before`` measures that checkout's code), next to two baselines measured in the same
run: an empty interpreter (``python -c pass``) and a bare Typer app (``import typer``), the floor any Typer CLI
stands on. The goals (issue 10): ``--help`` under 150 ms; the first frame of a 1 GB log under 300 ms. The
``importtime`` table lists the modules that cost the most to import when ``tools.arbtail`` and
``tools.runbot_cli`` are imported (``python -X importtime``, cumulative µs). Not a test: it prints tables.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (label, module, arguments): every command a user may ask for help.
HELP_COMMANDS: list[tuple[str, str, list[str]]] = [
    ("runbot --help", "arbdash.tools.runbot_cli", ["--help"]),
    ("arbtail --help", "arbdash.tools.arbtail", ["--help"]),
    *[
        (f"arbtail {sub} --help", "arbdash.tools.arbtail", [sub, "--help"])
        for sub in ("show", "grep", "stats", "export", "sessions", "import", "prune", "db-upgrade")
    ],
]

BARE_TYPER = "import typer\napp = typer.Typer()\n@app.command()\ndef main(x: int = 1) -> None: pass\napp()"


def wall_ms(argv: list[str], cwd: Path, repeat: int) -> tuple[float, int]:
    """Median wall time (ms) of ``repeat`` runs of ``argv`` in ``cwd``, and the last exit code."""
    times = []
    code = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        code = subprocess.run(argv, cwd=cwd, capture_output=True).returncode
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), code


def import_costs(module: str, cwd: Path, top: int) -> list[tuple[int, str]]:
    """The ``top`` modules with the largest cumulative import time (µs) when ``module`` is imported."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        capture_output=True,
        text=True,
    ).stderr
    rows = []
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].strip()))
    rows.sort(reverse=True)
    return rows[:top]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="processes per figure (median, default 7)")
    ap.add_argument("--log", type=Path, help="a big session log for the first-frame figure")
    ap.add_argument("--size-mb", type=int, help="generate a log of this size (MB) for the first-frame figure")
    ap.add_argument("--before", type=Path, help="another checkout to measure in the same run (e.g. main~N)")
    ap.add_argument("--top", type=int, default=8, help="rows of the importtime table")
    args = ap.parse_args(argv)

    log = args.log
    tmp = None
    if log is None and args.size_mb:
        from arbdash.tools.bench_arbtail import generate, real_run

        tmp = tempfile.TemporaryDirectory(prefix="arbdash-coldstart-")
        source = real_run(Path(tmp.name))
        log = Path(tmp.name) / "big" / "session.jsonl"
        log.parent.mkdir()
        generate(source, log, args.size_mb * 1024 * 1024, 20_000)

    py = sys.executable
    roots = [("this", ROOT)] + ([("before", args.before.resolve())] if args.before else [])
    pass_ms, _ = wall_ms([py, "-c", "pass"], ROOT, args.repeat)
    typer_ms, _ = wall_ms([py, "-c", BARE_TYPER, "--help"], ROOT, args.repeat)
    print(
        f"baselines (median of {args.repeat}): python -c pass {pass_ms:.0f} ms · bare Typer app --help {typer_ms:.0f} ms"
    )
    print()
    header = f"{'command':<28}" + "".join(f"{name + ' ms':>12}{'× typer':>9}" for name, _ in roots)
    print(header)
    print("-" * len(header))
    commands = list(HELP_COMMANDS)
    if log is not None:
        size_mb = log.stat().st_size / 2**20
        commands.append(
            (
                f"arbtail LOG --once ({size_mb:.0f} MB)",
                "arbdash.tools.arbtail",
                [str(log), "--once", "--width", "160"],
            )
        )
    for label, module, extra in commands:
        row = f"{label:<28}"
        for _, root in roots:
            ms, code = wall_ms([py, "-m", module, *extra], root, args.repeat)
            row += f"{ms:>12.0f}{ms / typer_ms:>9.2f}" + ("" if code == 0 else f" (exit {code})")
        print(row)
    for _, root in roots:
        for module in ("arbdash.tools.arbtail", "arbdash.tools.runbot_cli"):
            print()
            print(f"importtime of {module} ({root}): cumulative ms")
            for us, name in import_costs(module, root, args.top):
                print(f"  {us / 1000:>8.1f}  {name}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
