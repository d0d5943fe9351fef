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

A rotated set is one stream (``dashboard.sources.rotated``): a rotation (``copytruncate``, a size limit) may cut
a record in two, the older member ending without its newline and the next one starting with the rest. Between
members a reader calls ``end_member`` instead of ``finish``: a partial last line is kept and joined with the next
member's first line when the two make one JSON value (``joins``) — one record, folded once; otherwise the older
part is counted as torn (``torn_line``) and the next member's first line is read on its own. A member that ends
with its newline joins nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

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


def joins(line: bytes) -> bool:
    """Whether ``line`` — an older member's partial last line followed by the next member's first line — is one
    JSON value: the record a rotation cut in two (a torn record followed by a whole one is not)."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


class LineSplitter:
    """Incremental ``\\n`` splitter. ``on_skip(reason, detail)`` is called for an over-long line."""

    __slots__ = ("max_line_bytes", "on_skip", "_buf", "_dropping", "_hole", "_carried", "_joining")

    def __init__(self, on_skip: SkipFn, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.on_skip = on_skip
        self._buf = b""
        self._dropping = -1  # ≥ 0: bytes of an over-long line dropped so far
        self._hole = 0  # NUL bytes of an over-long run counted so far (reported before the line after them)
        self._carried = 0  # bytes at the start of ``_buf`` from the member before this one (``end_member``)
        self._joining = ""  # that member's name while ``_carried`` waits for the line it may complete

    @property
    def pending(self) -> int:
        """Bytes of the partial last line held back from the current member (0 when the stream ends at a line
        boundary); the bytes carried from the member before it are ``carried``."""
        return self._hole + len(self._buf) - self._carried if self._dropping < 0 else self._dropping

    @property
    def carried(self) -> bytes:
        """The older member's partial last line still waiting for the line that may complete it (``b""`` if
        none): what a follower continuing this stream passes to ``resume``."""
        return self._buf[: self._carried]

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
        if self._carried and len(tail) > self.max_line_bytes:  # too long to be the rest of one record
            tail = self._torn_carry(tail)
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

    def _torn_carry(self, data: bytes) -> bytes:
        """Count the carried part of the older member as torn; ``data`` without it."""
        n = self._carried
        self.on_skip("torn_line", f"{n} bytes without a newline at the end of {self._joining}")
        self._carried, self._joining = 0, ""
        return data[n:]

    def _join(self, data: bytes) -> bytes:
        """``data`` (the carried part, then the new member's bytes) once the first line after the carried part
        is complete: kept whole if the two join (``joins``), else without the carried part (counted torn)."""
        nl = data.find(b"\n", self._carried)
        if nl < 0:
            return data  # the rest of the line is still to come
        if joins(data[:nl]):
            self._carried, self._joining = 0, ""
            return data
        return self._torn_carry(data)

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines in ``chunk`` (``\\n`` removed, empty lines dropped), in order."""
        chunk = self._start(chunk)
        data = self._buf + chunk if self._buf else chunk
        if self._carried:
            data = self._join(data)
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
        if self._carried:
            data = self._join(data)
        end = data.rfind(b"\n") + 1
        if end:
            self._end_hole()
        self._hold(data[end:])
        return data[:end] if end < len(data) else data

    def reset(self) -> None:
        """Forget the partial line."""
        self._buf = b""
        self._dropping = -1
        self._hole = 0
        self._carried, self._joining = 0, ""

    def end_member(self, where: str) -> None:
        """End of member ``where`` of a rotated set whose next member continues the stream: a partial last line
        (the member ends without its newline) is carried over, to be joined with the next member's first line
        if the two make one JSON value, else counted as torn when that line is complete (see the module doc).
        Anything else left is reported as ``finish`` reports it."""
        if self._buf and self._dropping < 0 and not self._hole:
            self._carried, self._joining = len(self._buf), where
            return
        self.finish(where)

    def resume(self, carried: bytes, where: str) -> None:
        """Start a fresh stream as the continuation of one that ended carrying ``carried`` (``carried``: the
        partial last line of member ``where``), as if ``end_member`` had just been called."""
        self.reset()
        if carried:
            self._buf, self._carried, self._joining = carried, len(carried), where

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
