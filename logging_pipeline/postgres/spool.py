"""The sink's overflow file: events that could not reach PostgreSQL and did not fit in memory.

The spool is plain JSONL — the original lines, oldest first — so a spool left behind by a crashed process is
loaded like any session file (``arbtail --db DSN import FILE``). Methods do blocking file I/O: the sink calls
them through ``asyncio.to_thread``. Not thread-safe; one owner.
"""

from __future__ import annotations

import os
from pathlib import Path


class Spool:
    """An append-only JSONL file read back in chunks from a remembered offset.

    ``path`` is created (with parents) on first append. ``pending`` counts lines appended but not yet
    acknowledged with ``commit``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.pending = 0
        self._read_offset = 0  # bytes before this offset are acknowledged (written to PG)

    def append(self, lines: list[bytes]) -> None:
        """Append lines (each without newline) and flush to the OS. Raises ``OSError`` (disk full, permissions)."""
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as fh:
            fh.write(b"\n".join(lines) + b"\n")
            fh.flush()
        self.pending += len(lines)

    def read_chunk(self, max_lines: int) -> tuple[list[bytes], int]:
        """Up to ``max_lines`` unacknowledged lines and the offset just past them (pass it to ``commit``).
        Returns ``([], offset)`` when nothing is pending. Raises ``OSError``."""
        if self.pending <= 0 or not self.path.exists():
            return [], self._read_offset
        lines: list[bytes] = []
        with open(self.path, "rb") as fh:
            fh.seek(self._read_offset)
            end = self._read_offset
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                end += len(raw)
                lines.append(raw[:-1])
                if len(lines) >= max_lines:
                    break
        return lines, end

    def commit(self, end_offset: int, n_lines: int) -> None:
        """Acknowledge lines up to ``end_offset``; deletes the file once everything is acknowledged."""
        self._read_offset = end_offset
        self.pending = max(0, self.pending - n_lines)
        if self.pending == 0:
            self.discard()

    def discard(self) -> None:
        """Delete the file and forget it (after a complete backfill). Never raises for a missing file."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.pending = 0
        self._read_offset = 0
