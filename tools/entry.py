"""The console scripts' entry points (``runbot``, ``arbtail``): they import the command line inside a guard, so
Ctrl-C while Python is still loading it ends with one line and exit code 130 instead of a traceback. This module
imports nothing but ``sys``; the commands' own ``main`` handle Ctrl-C once they run.
"""

from __future__ import annotations

import sys


def _interrupted(name: str) -> None:
    sys.stderr.write(f"{name}: interrupted\n")
    raise SystemExit(130)


def runbot() -> None:
    """``runbot``: ``tools.runbot_cli.main``."""
    try:
        from tools.runbot_cli import main
    except KeyboardInterrupt:
        _interrupted("runbot")
    main()


def arbtail() -> None:
    """``arbtail``: ``tools.arbtail.main``."""
    try:
        from tools.arbtail import main
    except KeyboardInterrupt:
        _interrupted("arbtail")
    main()
