"""Splitting a byte stream into JSONL lines, block by block, with memory bounded by the longest accepted line.

``LineSplitter.feed(chunk)`` returns the complete lines in ``chunk`` (without their ``\\n``) and keeps the
partial last line for the next call; a partial line that grows past ``max_line_bytes`` is dropped as it
arrives (never buffered whole) and reported once, when its newline arrives, as a ``too_long`` skip — except an
over-long run of NUL bytes before a line of sane length (the hole ``copytruncate`` leaves when the writer keeps
its offset, as long as the file was): the NULs are counted as they arrive and reported as one ``nul_bytes``
skip, and the line after them is kept. A shorter run of NULs stays in its line, for the reducer to count the
same way. Reading in blocks and splitting with ``bytes.split`` is what makes replay fast (no per-line
``readline`` call).

A UTF-8 byte-order mark (an editor adds one) is not part of a file's first line: a reader reading a file from
its start passes its first bytes through ``strip_bom``.
"""

from __future__ import annotations

from collections.abc import Callable

#: Bytes read per ``read`` call (1 MiB).
BLOCK_BYTES = 1 << 20
#: Longest line a reader accepts (bytes). Checkpoint lines are well below this; a longer line is skipped.
MAX_LINE_BYTES = 16 * 1024 * 1024

SkipFn = Callable[[str, str], None]

#: The UTF-8 byte-order mark.
BOM = b"\xef\xbb\xbf"


def strip_bom(chunk: bytes) -> bytes:
    """``chunk`` — the first bytes of a file — without a UTF-8 byte-order mark."""
    return chunk[3:] if chunk.startswith(BOM) else chunk


class LineSplitter:
    """Incremental ``\\n`` splitter. ``on_skip(reason, detail)`` is called for an over-long line."""

    __slots__ = ("max_line_bytes", "on_skip", "_buf", "_dropping", "_hole")

    def __init__(self, on_skip: SkipFn, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.on_skip = on_skip
        self._buf = b""
        self._dropping = -1  # ≥ 0: bytes of an over-long line dropped so far
        self._hole = 0  # NUL bytes of an over-long run counted so far (reported before the line after them)

    @property
    def pending(self) -> int:
        """Bytes of the partial last line held back (0 when the stream ends at a line boundary)."""
        return self._hole + len(self._buf) if self._dropping < 0 else self._dropping

    def _start(self, chunk: bytes) -> bytes:
        """What of ``chunk`` is left to split: the rest of an over-long line being dropped is dropped (and the
        line reported when it ends), NULs continuing an over-long run are counted."""
        if self._dropping >= 0:
            i = chunk.find(b"\n")
            if i < 0:
                self._dropping += len(chunk)
                return b""
            self.on_skip("too_long", f"a line of {self._dropping + i} bytes (limit {self.max_line_bytes})")
            self._dropping = -1
            chunk = chunk[i + 1 :]
        if self._hole and not self._buf:
            rest = chunk.lstrip(b"\x00")
            self._hole += len(chunk) - len(rest)
            return rest
        return chunk

    def _hold(self, tail: bytes) -> None:
        """Keep the partial last line ``tail`` — unless it is over-long: then a run of NULs before a line of sane
        length is counted and the line kept, anything else dropped."""
        if len(tail) <= self.max_line_bytes:
            self._buf = tail
            return
        rest = tail.lstrip(b"\x00")
        if len(rest) < len(tail) and len(rest) <= self.max_line_bytes and b"\x00" not in rest:
            self._hole += len(tail) - len(rest)
            self._buf = rest
            return
        self._end_hole()
        self._dropping, self._buf = len(tail), b""

    def _end_hole(self) -> None:
        if self._hole:
            self.on_skip(
                "nul_bytes", f"{self._hole} NUL bytes (over {self.max_line_bytes} in a row) before a line"
            )
            self._hole = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines in ``chunk`` (``\\n`` removed, empty lines dropped), in order."""
        chunk = self._start(chunk)
        data = self._buf + chunk if self._buf else chunk
        lines = data.split(b"\n")
        tail = lines.pop()
        if lines:
            self._end_hole()
        self._hold(tail)
        if b"" in lines:
            lines = [x for x in lines if x]
        return lines

    def feed_block(self, chunk: bytes) -> bytes:
        """The complete lines in ``chunk`` as one block, each still ending in ``\\n`` (``b""`` if none), for
        ``Reducer.feed_block``: the same lines ``feed`` returns (blank lines are dropped by the reader), without
        splitting them here. The partial last line is held back and an over-long one dropped exactly as ``feed``
        does."""
        chunk = self._start(chunk)
        data = self._buf + chunk if self._buf else chunk
        end = data.rfind(b"\n") + 1
        if end:
            self._end_hole()
        self._hold(data[end:])
        return data[:end] if end < len(data) else data

    def reset(self) -> None:
        """Forget the partial line (the file was truncated or replaced)."""
        self._buf = b""
        self._dropping = -1
        self._hole = 0

    def finish(self, where: str) -> None:
        """End of a finished stream: a partial last line is *torn* and counted (never parsed)."""
        self._end_hole()
        if self._dropping >= 0:
            self.on_skip(
                "too_long", f"a line of {self._dropping}+ bytes without a newline at the end of {where}"
            )
        elif self._buf:
            self.on_skip("torn_line", f"{len(self._buf)} bytes without a newline at the end of {where}")
        self.reset()
