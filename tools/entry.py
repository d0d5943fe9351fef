"""The console scripts' entry points (``runbot``, ``arbtail``): they import the command line with Ctrl-C held
back, so Ctrl-C while Python is still loading it ends with one line and exit code 130 instead of a traceback —
or a crash: a ``KeyboardInterrupt`` raised while a C extension initialises (orjson's, for one) can leave the
interpreter to die of a segmentation fault. SIGINT is blocked (``signal.pthread_sigmask``) for the import; one that
arrived meanwhile is found pending afterwards and ends the program the same way. This module imports nothing but
``sys`` and ``signal`` (both built in); the commands' own ``main`` handle Ctrl-C once they run.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from importlib import import_module


def _interrupted(name: str) -> None:
    sys.stderr.write(f"{name}: interrupted\n")
    raise SystemExit(130)


def _load(name: str, module: str) -> Callable[[], None]:
    """``module.main``, imported with SIGINT blocked (see the module docstring)."""
    blocked = {signal.SIGINT}
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    except (AttributeError, OSError, ValueError):  # no signal masks here: a KeyboardInterrupt is still caught
        blocked = set()
    try:
        main: Callable[[], None] = import_module(module).main
    except KeyboardInterrupt:
        _interrupted(name)
    if blocked:
        if signal.SIGINT in signal.sigpending():
            _interrupted(name)  # the pending Ctrl-C dies with the process
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    return main


def runbot() -> None:
    """``runbot``: ``tools.runbot_cli.main``."""
    _load("runbot", "arbdash.tools.runbot_cli")()


def arbtail() -> None:
    """``arbtail``: ``tools.arbtail.main``."""
    _load("arbtail", "arbdash.tools.arbtail")()
