"""``runbot`` with fault-injection hooks, for the terminal tests only (the product CLI has none).

    python tests/runbot_hooks.py [--crash-after S] [--stray-output] <runbot args>

Wraps ``tools.runbot_run.run_bot`` (the bot the CLI runs inside its pipeline and dashboard) and then calls
``tools.runbot_cli.main()`` with the remaining arguments:

* ``--crash-after S``: the bot raises ``RuntimeError("injected crash after S s")`` after ``S`` wall seconds,
  inside the dashboard context (the CLI records the crash and closes the session);
* ``--stray-output``: while the bot runs, a thread prints a line to stdout and to stderr every 0.2 s (a
  third-party library writing to the terminal behind the dashboard's back).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import arbdash.tools.runbot_cli as runbot_cli  # noqa: E402
import arbdash.tools.runbot_run as runbot_run  # noqa: E402


def _stray_output(stop: threading.Event) -> None:
    n = 0
    while not stop.wait(0.2):
        n += 1
        print(f"stray stdout line {n} from a thread")  # noqa: T201 - the point of the hook
        print(f"stray stderr line {n} from a thread", file=sys.stderr)  # noqa: T201


def hooked(real: Any, *, crash_after: float | None, stray_output: bool) -> Any:
    """``run_bot`` with the hooks around the coroutine it returns."""

    async def run(bot: Coroutine[Any, Any, Any]) -> Any:
        stop = threading.Event()
        if stray_output:
            threading.Thread(
                target=_stray_output, args=(stop,), name="test-stray-output", daemon=True
            ).start()
        try:
            if crash_after is None:
                return await bot
            try:
                return await asyncio.wait_for(bot, crash_after)
            except TimeoutError:
                raise RuntimeError(
                    f"injected crash after {crash_after:g} s (tests/runbot_hooks.py)"
                ) from None
        finally:
            stop.set()

    def run_bot(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        return run(real(*args, **kwargs))

    return run_bot


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--crash-after", type=float, default=None)
    parser.add_argument("--stray-output", action="store_true")
    hooks, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    runbot_run.run_bot = hooked(
        runbot_run.run_bot,
        crash_after=hooks.crash_after,  # type: ignore[assignment]
        stray_output=hooks.stray_output,
    )
    sys.argv = [sys.argv[0], *rest]
    runbot_cli.main()


if __name__ == "__main__":
    main()
