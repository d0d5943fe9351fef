"""What ``runbot`` tells its operator: the closing line says where the events really went (PostgreSQL down: how
many were spooled, to which file), an unwritable ``--log-dir`` or a missing ``--config`` is one clear line and
exit 2 before anything runs."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from arbdash.tools.runbot_run import closing_line

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "funding_arb_paper.yml"


def _runbot(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arbdash.tools.runbot_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_closing_line_says_events_were_spooled(tmp_path: Path) -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    proc = _runbot(
        "--config",
        str(CONFIG),
        "--speed",
        "0",
        "--dashboard-mode=silent",
        "--db",
        dsn,
        "--log-dir",
        str(tmp_path / "logs"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (line,) = proc.stdout.splitlines()
    (spool,) = (tmp_path / "logs" / "pg_spool").glob("*.pgspool.jsonl")
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    spooled = len(spool.read_bytes().splitlines())
    assert spooled > 0
    assert " and PostgreSQL (" not in line  # it did not write them there
    assert f"events written to {jsonl};" in line
    m = re.search(
        r"PostgreSQL \((?P<dsn>[^)]*)\): (?P<stored>\d+) of (?P<total>\d+) events stored, "
        r"(?P<spooled>\d+) spooled to (?P<path>\S+) — the next runbot start with this database",
        line,
    )
    assert m, line
    assert m["dsn"] == dsn
    assert int(m["stored"]) == 0 and int(m["spooled"]) == spooled == int(m["total"])
    assert Path(m["path"]) == spool
    # the sink's own warning on stderr says the same count and file
    assert f"{spooled} events not written" in proc.stderr and str(spool) in proc.stderr


def _sink(**stats: int) -> SimpleNamespace:
    base = dict(accepted=100, written=100, dropped=0, rejected=0, backlog=0, spool_pending=0)
    return SimpleNamespace(
        dsn="postgresql://u:secret@db/x",
        stats={**base, **stats},
        spool_path=Path("logs/pg_spool/S.pgspool.jsonl"),
        last_problem="cannot write spool: full",
    )


def test_closing_line_variants() -> None:
    jsonl = Path("logs/S.jsonl")
    assert closing_line("S", jsonl, None) == "session S: events written to logs/S.jsonl"
    ok = closing_line("S", jsonl, _sink())
    assert ok == "session S: events written to logs/S.jsonl and PostgreSQL (postgresql://u:***@db/x)"
    part = closing_line("S", jsonl, _sink(written=60, backlog=40, spool_pending=30, dropped=5, rejected=2))
    assert "secret" not in part and " and PostgreSQL" not in part
    assert "60 of 100 events stored" in part
    assert "30 spooled to logs/pg_spool/S.pgspool.jsonl" in part
    assert "10 not stored (cannot write spool: full)" in part and "import logs/S.jsonl" in part
    assert "5 dropped" in part and "2 refused by PostgreSQL" in part


def _refused_before_start(proc: subprocess.CompletedProcess[str], tmp_path: Path, starts: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(starts), line
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("*.jsonl"))  # nothing ran


@pytest.mark.parametrize("where", ["file", "proc"])
def test_unwritable_log_dir_is_one_line_and_exit_2(tmp_path: Path, where: str) -> None:
    if where == "file":
        log_dir = tmp_path / "not-a-dir"
        log_dir.write_text("x")
    else:
        if not Path("/proc/self").exists():
            pytest.skip("no /proc")
        log_dir = Path("/proc/x")
    proc = _runbot(
        "--config",
        str(CONFIG),
        "--speed",
        "0",
        "--dashboard-mode=silent",
        "--log-dir",
        str(log_dir),
        cwd=tmp_path,
        timeout=60,
    )
    _refused_before_start(proc, tmp_path, f"runbot: cannot write logs to {log_dir}: ")


@pytest.mark.parametrize("where", ["missing_dir", "directory"])
def test_an_unwritable_final_frame_is_refused_before_the_run(tmp_path: Path, where: str) -> None:
    target = tmp_path / "nope" / "frame.txt" if where == "missing_dir" else tmp_path
    proc = _runbot(
        "--config",
        str(CONFIG),
        "--speed",
        "0",
        "--dashboard-mode=silent",
        "--log-dir",
        str(tmp_path / "logs"),
        "--final-frame",
        str(target),
        cwd=tmp_path,
        timeout=60,
    )
    _refused_before_start(proc, tmp_path, f"runbot: cannot write --final-frame {target}: ")


def test_runbot_without_config_asks_for_one(tmp_path: Path) -> None:
    # run where the shipped config is reachable by its relative path: a default would have been picked up
    proc = _runbot(
        "--speed", "0", "--dashboard-mode=silent", "--log-dir", str(tmp_path / "logs"), cwd=ROOT, timeout=60
    )
    _refused_before_start(proc, tmp_path, "runbot: --config FILE is required")
    assert "configs/funding_arb_paper.yml" in proc.stderr


_FULL_DISK_RUNBOT = r"""
import errno, sys
import arbdash.logging_pipeline.writer as w

class Full:
    def __init__(self, real): self.real, self.left = real, 200_000
    def write(self, data):
        if self.left <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = self.real.write(data[: self.left]); self.left -= n; return n
    def __getattr__(self, name): return getattr(self.real, name)

real_open = w.BatchFileWriter.open
def open_(self):
    real_open(self)
    if self.path.suffix == ".jsonl":
        self._file = Full(self._file)
w.BatchFileWriter.open = open_
sys.argv = ["runbot", *sys.argv[1:]]
from arbdash.tools.runbot_cli import main
main()
"""


def test_a_full_jsonl_disk_is_not_reported_as_a_written_record(tmp_path: Path) -> None:
    """The JSONL disk fills up mid-run (the file takes its first 200 kB, then ENOSPC): the closing line says the
    record is incomplete and how much of it was written, on stdout and on stderr, in silent mode too."""
    import yaml

    config = yaml.safe_load((ROOT / "configs" / "funding_arb_paper.yml").read_text())
    config["market"] |= {"start": "2026-03-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"}
    cfg = tmp_path / "short.yml"
    cfg.write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _FULL_DISK_RUNBOT,
            "--config",
            str(cfg),
            "--speed",
            "0",
            "--dashboard-mode=silent",
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (jsonl,) = (tmp_path / "logs").glob("*.jsonl")
    on_disk = jsonl.read_bytes().count(b"\n")
    assert b'"session.stopped"' not in jsonl.read_bytes()  # the record really is incomplete
    closing = run.stdout.strip().splitlines()[-1]
    assert "INCOMPLETE" in closing and "No space left" in closing, closing
    found = re.search(r"only (\d+) of (\d+) events written", closing)
    assert found is not None, closing
    written, total = map(int, found.groups())
    assert written == on_disk and total > written
    assert "JSONL record is incomplete" in run.stderr
