"""``arbtail export`` error paths: a log without ``--svg``/``--html`` is told to give them (not to pass a DSN),
an output file that cannot be written is named, and the PostgreSQL export (``--db DSN export SESSION``) says
one clear line for a file it cannot write, leaves an existing ``-o`` file alone when the session is unknown or
the server unreachable, and stays quiet when its reader goes away (``| head``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arbdash.tools.arbtail import app

ROOT = Path(__file__).resolve().parent.parent
GIVE_SVG = (
    "arbtail: give --svg FILE and/or --html FILE to save a frame of a log (export without them writes a "
    "PostgreSQL session as JSONL: --db DSN)"
)


def arbtail(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(app, [str(a) for a in args], env=env, prog_name="arbtail")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, list[bytes], str]:
    """A small session log (the PostgreSQL tests' event factory) and its lines and session id."""
    from pg_fixtures import make_events

    sid = str(uuid.uuid4())
    lines = [line for line, _ in make_events(sid, 120)]
    path = tmp_path / f"{sid}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines, sid


@pytest.mark.parametrize("db", [None, "postgresql://nobody@127.0.0.1:1/none"])
def test_a_log_without_svg_or_html_is_told_to_give_them(
    log: tuple[Path, list[bytes], str], tmp_path: Path, db: str | None
) -> None:
    """Was "no database: pass --db DSN or set ARBDASH_DATABASE_URL" (or, with a DSN in the environment, a
    database error) for a file. An existing path and a ``.jsonl`` name (rotated, ``.gz``) both count."""
    env = {"ARBDASH_DATABASE_URL": db} if db else {"ARBDASH_DATABASE_URL": ""}
    for target in (log[0], tmp_path / "gone.jsonl", tmp_path / "old.jsonl.2", tmp_path / "x.jsonl.gz"):
        out = arbtail("export", target, env=env)
        assert out.exit_code == 2
        assert out.stderr == GIVE_SVG + "\n"


def test_a_session_id_without_a_database_still_asks_for_one(tmp_path: Path) -> None:
    out = arbtail("export", "latest", env={"ARBDASH_DATABASE_URL": ""})
    assert out.exit_code == 2
    assert out.stderr == "arbtail: no database: pass --db DSN or set ARBDASH_DATABASE_URL\n"


@pytest.mark.parametrize("flag", ["--svg", "--html"])
def test_an_output_that_cannot_be_written_is_named(
    log: tuple[Path, list[bytes], str], tmp_path: Path, flag: str
) -> None:
    target = tmp_path / "no" / "such" / "dir" / "frame.out"
    out = arbtail("export", log[0], flag, target)
    assert out.exit_code == 2
    assert out.stderr == f"arbtail: cannot write {target}: No such file or directory\n"


# --- the PostgreSQL export ------------------------------------------------------------------------------------


@pytest.fixture
def stored(pg_dsn: str, log: tuple[Path, list[bytes], str]) -> tuple[str, list[bytes], str]:
    from arbdash.tools.pg_admin import import_jsonl

    asyncio.run(import_jsonl(pg_dsn, log[0]))
    return pg_dsn, log[1], log[2]


@pytest.mark.pg
def test_db_export_to_a_file_that_cannot_be_written_is_one_line(
    stored: tuple[str, list[bytes], str], tmp_path: Path
) -> None:
    """Was "arbtail: FileNotFoundError: [Errno 2] No such file or directory: '…'"."""
    dsn, _, sid = stored
    cases = ((tmp_path / "no" / "x.jsonl", "No such file or directory"), (tmp_path, "Is a directory"))
    for target, reason in cases:
        out = arbtail("--db", dsn, "export", sid, "-o", target)
        assert out.exit_code == 2
        assert out.stderr == f"arbtail: cannot write {target}: {reason}\n"


@pytest.mark.pg
def test_db_export_to_a_file_writes_the_session(stored: tuple[str, list[bytes], str], tmp_path: Path) -> None:
    dsn, lines, sid = stored
    target = tmp_path / "out.jsonl"
    out = arbtail("--db", dsn, "export", sid, "-o", target)
    assert out.exit_code == 0, out.output
    assert len(target.read_bytes().splitlines()) == len(lines)
    assert out.stderr == f"exported {len(lines)} events to {target}\n"


@pytest.mark.pg
def test_db_export_leaves_the_output_alone_when_there_is_nothing_to_export(
    stored: tuple[str, list[bytes], str], tmp_path: Path
) -> None:
    """The file used to be opened (truncated) before the session was looked up: an unknown session or an
    unreachable server left an empty file in place of whatever was there."""
    dsn, _, _ = stored
    target = tmp_path / "precious.jsonl"
    target.write_bytes(b"keep me\n")
    out = arbtail("--db", dsn, "export", str(uuid.uuid4()), "-o", target)
    assert out.exit_code == 2
    assert out.stderr.startswith("arbtail: no session matches")
    out = arbtail("--db", "postgresql://nobody@127.0.0.1:1/none", "export", "latest", "-o", target)
    assert out.exit_code == 2
    assert out.stderr.startswith("arbtail: cannot connect to")
    assert target.read_bytes() == b"keep me\n"
    gone = tmp_path / "never.jsonl"
    arbtail("--db", dsn, "export", str(uuid.uuid4()), "-o", gone)
    assert not gone.exists()


@pytest.mark.pg
def test_db_export_into_a_closed_pipe_is_quiet(stored: tuple[str, list[bytes], str]) -> None:
    """``arbtail --db DSN export SESSION | head``: was "arbtail: BrokenPipeError: [Errno 32] Broken pipe"."""
    dsn, _, sid = stored
    env = {**os.environ, "ARBDASH_DATABASE_URL": dsn}
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first write
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "arbdash.tools.arbtail", "export", sid],
            cwd=ROOT,
            env=env,
            stdout=w,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(w)
    assert proc.stderr.decode() == ""
    assert proc.returncode == 0


@pytest.mark.pg
def test_db_export_from_a_database_without_arbdash_tables_is_one_line(pg_dsn: str, tmp_path: Path) -> None:
    """Was "arbtail: UndefinedTableError: relation "dashboard_sessions" does not exist" (and, for a full UUID,
    the same); the wording is the viewer's (``arbtail --db DSN --session ID``)."""
    target = tmp_path / "out.jsonl"
    for session in ("latest", str(uuid.uuid4())):
        out = arbtail("--db", pg_dsn, "export", session, "-o", target)
        assert out.exit_code == 2
        assert out.stderr == "arbtail: no arbdash tables in this database (nothing recorded yet?)\n"
    assert not target.exists()


@pytest.mark.pg
def test_db_export_that_fails_midway_leaves_the_old_file_and_no_partial_one(
    stored: tuple[str, list[bytes], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session is written to a temporary file that replaces ``-o`` only when complete."""
    import asyncio

    from arbdash.tools import pg_admin

    dsn, _, sid = stored
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"the previous export\n")
    real = pg_admin.payload_to_line
    calls = {"n": 0}

    def failing(payload: str) -> bytes:
        calls["n"] += 1
        if calls["n"] > 10:
            raise OSError(28, "No space left on device")
        return real(payload)

    monkeypatch.setattr(pg_admin, "payload_to_line", failing)
    with pytest.raises(OSError, match="No space left"):
        asyncio.run(pg_admin.export_session(dsn, sid, target))
    assert target.read_bytes() == b"the previous export\n"
    assert not list(tmp_path.glob(".out.jsonl.*"))  # no temporary file left behind
