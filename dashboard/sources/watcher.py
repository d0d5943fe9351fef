"""Wake-ups when a log may have changed: filesystem notifications (watchfiles) with a polling fallback.

``wakeups(directory, poll_s=…)`` is an async iterator that yields whenever something in ``directory`` changed
and at least every ``poll_s`` seconds regardless, so a caller that re-checks the file on every wake-up is
correct on filesystems without notifications (NFS, some containers) and when the directory does not exist
yet. With ``notify=False`` (or ``ARBTAIL_POLL=1`` in the environment) only the timer is used. The caller
never needs to know which of the two woke it: it stats the file each time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import watchfiles


async def wakeups(directory: Path, *, poll_s: float = 0.5, notify: bool = True) -> AsyncIterator[None]:
    """Yield on each change in ``directory`` (non-recursive) and at least every ``poll_s`` seconds."""
    if notify and os.environ.get("ARBTAIL_POLL") != "1" and directory.is_dir():
        stop = asyncio.Event()
        try:
            async for _ in watchfiles.awatch(
                directory,
                debounce=50,
                step=20,
                rust_timeout=max(1, int(poll_s * 1000)),
                yield_on_timeout=True,
                recursive=False,
                stop_event=stop,
            ):
                yield None
            return
        except (OSError, RuntimeError):
            pass  # no notifications here (inotify limits, unsupported filesystem): poll instead
        finally:
            stop.set()
    while True:
        yield None
        await asyncio.sleep(poll_s)
