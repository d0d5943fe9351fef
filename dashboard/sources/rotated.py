"""A rotated log set as one ordered stream: ``x.jsonl.3.gz``, ``x.jsonl.2``, ``x.jsonl.1``, ``x.jsonl``.

``members(path)`` lists the files oldest first (a higher rotation number is older; ``.gz`` members are read
through ``gzip``). ``open_member`` opens one for binary block reads and ``check_readable`` turns every way a
path can fail to be a log (missing, a directory, unreadable, not gzip) into one operator-readable
``SourceError``.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import BinaryIO

from arbdash.dashboard.sources.protocol import SourceError

__all__ = ["SourceError", "check_readable", "members", "open_member", "raw_position"]


def _rotation_number(base: str, name: str) -> int | None:
    m = re.fullmatch(re.escape(base) + r"\.(\d+)(?:\.gz)?", name)
    return int(m.group(1)) if m else None


def members(path: Path) -> list[Path]:
    """``path`` and its rotated predecessors in the same directory, oldest first, one per rotation number (the
    plain file when its ``.gz`` is being written beside it). ``path`` itself is last (included even when it does
    not exist, so a reader can wait for it). A path that is itself a rotated
    member (``x.jsonl.1``) or a ``.gz`` file is read alone."""
    if path.suffix == ".gz" or re.search(r"\.\d+$", path.name):
        return [path]
    parent = path.parent if str(path.parent) else Path(".")
    try:
        names = [p.name for p in parent.iterdir()]
    except OSError:
        return [path]
    by_number: dict[int, str] = {}
    for name in names:
        n = _rotation_number(path.name, name)
        # ``x.jsonl.2`` and ``x.jsonl.2.gz`` at once: a gzip under way; the plain one is complete, take it
        if n is not None and (n not in by_number or not name.endswith(".gz")):
            by_number[n] = name
    return [parent / by_number[n] for n in sorted(by_number, reverse=True)] + [path]


def check_readable(path: Path) -> None:
    """Raise ``SourceError`` with an operator-readable reason if ``path`` cannot be opened as a log file."""
    try:
        if not path.exists():
            raise SourceError(f"{path}: no such file")
        if path.is_dir():
            raise SourceError(f"{path}: is a directory, expected a .jsonl file")
        with open(path, "rb"):
            pass
    except PermissionError as exc:
        raise SourceError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from exc


def open_member(path: Path) -> BinaryIO:
    """Open one member for binary reading (``.gz`` decompressed). Raises ``SourceError``."""
    check_readable(path)
    try:
        if path.suffix == ".gz":
            gz = gzip.open(path, "rb")
            gz.peek(1)  # a file that is not gzip fails here, not in the middle of the replay
            return gz  # type: ignore[return-value]
        return open(path, "rb")
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: cannot read ({exc})") from exc


def raw_position(fh: BinaryIO) -> int:
    """Bytes of the underlying file consumed so far (compressed bytes for a ``.gz`` member), for progress."""
    inner = getattr(fh, "fileobj", None)
    try:
        return (inner or fh).tell()
    except (OSError, ValueError):
        return 0
